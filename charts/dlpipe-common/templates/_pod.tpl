{{/*
What every dlpipe pod has, whatever runs in it.
*/}}

{{/*
A pod spec's first fields: restartPolicy (when given), the service account with its API token
left out unless serviceAccount.automountToken asks for it, pull secrets, the restricted pod
security context, and with "scheduled" the scheduling values (stage pods go to the nodes the
values choose, GPU nodes say; helpers such as TensorBoard do not).
Call with (dict "context" $ ["restartPolicy" "Never"] ["scheduled" true]).
*/}}
{{- define "dlpipe.pod.header" -}}
{{- $ := .context -}}
automountServiceAccountToken: {{ dig "automountToken" false ($.Values.serviceAccount | default dict) }}
{{- with .restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
{{- with include "dlpipe.serviceAccountName" $ }}
serviceAccountName: {{ . }}
{{- end }}
{{- with include "dlpipe.imagePullSecrets" $ }}{{ . | trim | nindent 0 }}{{ end }}
securityContext:
  {{- include "dlpipe.podSecurityContext" $ | nindent 2 }}
{{- if .scheduled }}
{{- with include "dlpipe.scheduling" $ }}{{ . | trim | nindent 0 }}{{ end }}
{{- end }}
{{- end -}}

{{/*
A pod template's labels and annotations: the selector labels of its component, then the
chart's own (dict "labels" …, "annotations" …), then .Values.podLabels / .Values.podAnnotations,
the earlier winning where both set one.
Call with (dict "context" $ "component" "<component>" ["labels" (dict …)] ["annotations" (dict …)]).
*/}}
{{- define "dlpipe.pod.metadata" -}}
{{- $values := .context.Values -}}
labels:
  {{- include "dlpipe.selectorLabels" . | nindent 2 }}
  {{- with merge (dict) (.labels | default dict) ($values.podLabels | default dict) }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with merge (dict) (.annotations | default dict) ($values.podAnnotations | default dict) }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The service account pods run as: serviceAccount.name, else <fullname> when the chart creates
one, else the namespace's "default"; nothing for a chart without serviceAccount values.
*/}}
{{- define "dlpipe.serviceAccountName" -}}
{{- with .Values.serviceAccount -}}
{{- if .create -}}
{{- .name | default (include "dlpipe.fullname" $) -}}
{{- else -}}
{{- .name | default "default" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The chart's ServiceAccount when serviceAccount.create: its annotations are how a cluster grants
the pods cloud access without static keys (EKS IRSA: eks.amazonaws.com/role-arn; GKE:
iam.gke.io/gcp-service-account; AKS: azure.workload.identity/client-id). No API token is mounted
unless serviceAccount.automountToken: nothing in dlpipe talks to the API server.
*/}}
{{- define "dlpipe.serviceAccount" -}}
{{- if .Values.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "dlpipe.metadata" (dict "context" . "name" (include "dlpipe.serviceAccountName" .)) | nindent 2 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountToken }}
{{- end }}
{{- end -}}
