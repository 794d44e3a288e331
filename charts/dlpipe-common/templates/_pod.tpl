{{/*
What every dlpipe pod has, whatever runs in it. Scheduling (dlpipe.scheduling) is left to the
caller: stage pods go to the nodes the values choose (GPU nodes, say), helpers such as
TensorBoard do not.
*/}}

{{/* No API token (nothing here talks to the API server), pull secrets, the restricted pod security context. */}}
{{- define "dlpipe.pod.defaults" -}}
automountServiceAccountToken: false
{{- with include "dlpipe.imagePullSecrets" . }}{{ . | trim | nindent 0 }}{{ end }}
securityContext:
  {{- include "dlpipe.podSecurityContext" . | nindent 2 }}
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
