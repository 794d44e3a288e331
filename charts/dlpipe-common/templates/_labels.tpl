{{/*
Labels. Selector labels are name + instance (+ component): they never change
across upgrades, so a Deployment's or Service's selector stays valid.
Call with the root context, or (dict "context" $ "component" "test").
*/}}

{{- define "dlpipe.selectorLabels" -}}
{{- $ctx := .context | default . -}}
app.kubernetes.io/name: {{ include "dlpipe.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "dlpipe.labels" -}}
{{- $ctx := .context | default . -}}
helm.sh/chart: {{ include "dlpipe.chart" $ctx }}
{{ include "dlpipe.selectorLabels" . }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
app.kubernetes.io/part-of: dlpipe
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
A namespaced resource's name, namespace and labels. Call with the root context (named
<fullname>) or (dict "context" $ "component" "<component>" ["name" "<name>"]) (named
<fullname>-<component> unless "name" says otherwise).
*/}}
{{- define "dlpipe.metadata" -}}
{{- $ctx := .context | default . -}}
name: {{ if .name }}{{ .name }}{{ else if .component }}{{ include "dlpipe.componentName" . }}{{ else }}{{ include "dlpipe.fullname" $ctx }}{{ end }}
namespace: {{ $ctx.Release.Namespace }}
labels:
  {{- include "dlpipe.labels" . | nindent 2 }}
{{- end -}}
