{{/*
Warnings at the end of a release's notes: a security context weakened through
unsafeSecurityContext, then the chart's own ("warnings", a list of lines).
Call with (dict "context" $ ["warnings" (list "…")]).
*/}}
{{- define "dlpipe.notes.warnings" -}}
{{- $warnings := .warnings | default list -}}
{{- with include "dlpipe.securityContext.weakened" .context -}}
{{- $warnings = prepend $warnings (printf "unsafeSecurityContext is set and %s weakens the restricted security context of every pod of this release. Run it only where the namespace's Pod Security admission allows it, and only as long as you must." .) -}}
{{- end -}}
{{- range $warnings }}

WARNING: {{ . }}
{{- end }}
{{- end -}}
