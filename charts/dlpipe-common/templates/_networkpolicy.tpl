{{/*
NetworkPolicies, rendered when .Values.networkPolicy.enabled. Policies add up: the release-wide
one admits nothing, so a pod of the release takes only what a policy for its component admits.
*/}}

{{/* No ingress to any pod of this release but what the other policies admit. */}}
{{- define "dlpipe.networkPolicy.release" -}}
{{- if .Values.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- include "dlpipe.metadata" (dict "context" . "name" (printf "%s-deny" (include "dlpipe.fullname" .))) | nindent 2 }}
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  policyTypes: [Ingress]
{{- end }}
{{- end -}}

{{/*
Who may call a release's servers: its own pods (helm test, the demo page), with
networkPolicy.allowNamespace every pod of the namespace, and the peers networkPolicy.from
lists. Never empty: an empty `from` would admit every source. A JSON list.
*/}}
{{- define "dlpipe.networkPolicy.clients" -}}
{{- $peers := list (dict "podSelector" (dict "matchLabels" (dict "app.kubernetes.io/instance" .Release.Name))) -}}
{{- if .Values.networkPolicy.allowNamespace -}}
{{- $peers = append $peers (dict "podSelector" dict) -}}
{{- end -}}
{{- toJson (concat $peers (.Values.networkPolicy.from | default list)) -}}
{{- end -}}

{{/*
A policy admitting "from" (a list of peers) to "ports" of the pods that "podSelector" (labels)
selects. Named "name", else <fullname>-<component>.
Call with (dict "context" $ "component" "<component>" ["name" "<name>"] ["metadata" "<dlpipe.job.metadata>"]
"podSelector" (dict …) "from" (list …) "ports" (list …)).
*/}}
{{- define "dlpipe.networkPolicy.allow" -}}
{{- if .context.Values.networkPolicy.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  {{- .metadata | default (include "dlpipe.metadata" (dict "context" .context "component" .component "name" .name)) | nindent 2 }}
spec:
  podSelector:
    matchLabels:
      {{- toYaml .podSelector | nindent 6 }}
  policyTypes: [Ingress]
  ingress:
    - from:
        {{- toYaml (required "dlpipe.networkPolicy.allow needs peers" .from) | nindent 8 }}
      ports:
        {{- range .ports }}
        - port: {{ . | int64 }}
          protocol: TCP
        {{- end }}
{{- end }}
{{- end -}}
