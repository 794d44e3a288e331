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

{{/*
`kubectl logs --follow` of a stage's pods. It waits while the image is pulled
(without --pod-running-timeout, kubectl gives up after 20 s). Call with
(dict "context" $ "target" "job/<name>" or "--selector=<label>=<value>").
*/}}
{{- define "dlpipe.notes.follow" -}}
kubectl logs --follow {{ .target }} --namespace {{ .context.Release.Namespace }} --pod-running-timeout=15m
{{- end -}}

{{/*
`helm test` of a release whose test pod waits up to "seconds" for the stage's
output: a --timeout 5 minutes longer, since helm's default (5m) is shorter than
a stage. Call with (dict "context" $ "seconds" N ["logs" true]).
*/}}
{{- define "dlpipe.notes.test" -}}
helm test {{ .context.Release.Name }} --namespace {{ .context.Release.Namespace }}{{ if .logs }} --logs{{ end }} --timeout {{ add (div (int64 .seconds) 60) 5 }}m
{{- end -}}

{{/*
What `kubectl logs` follows for worker 0 of a training run, by distributed.backend: the Job, the
JobSet's or the TrainJob's first Job, the TFJob's first pod (names as their controllers make them).
Call with (dict "job" "<the run's workload name>" "backend" .Values.distributed.backend).
*/}}
{{- define "dlpipe.notes.trainLogs" -}}
{{- get (dict "job" (printf "job/%s" .job) "jobset" (printf "job/%s-worker-0" .job) "trainjob" (printf "job/%s-node-0" .job) "tfjob" (printf "pod/%s-worker-0" .job)) .backend -}}
{{- end -}}
