{{/* The configuration file, exactly as dlpipe reads it. */}}
{{- define "dlpipe-ingest.config" -}}
{{- $_ := required "config.ingest.source is required: s3://bucket/key, https://…, sample:digits or a path on the shared volume" .Values.config.ingest.source -}}
{{- include "dlpipe-ingest.checkSplits" . -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config.ingest "dataset" (include "dlpipe-ingest.dataset" .) -}}
{{- include "dlpipe.stageConfig" (dict "context" . "config" $config) -}}
{{- end -}}

{{/* The dataset's name: config.ingest.dataset, else the pipeline's (global.dlpipe.dataset). */}}
{{- define "dlpipe-ingest.dataset" -}}
{{- include "dlpipe.pipeline.required" (dict "context" . "value" .Values.config.ingest.dataset "key" "dataset" "field" "config.ingest.dataset" "what" "the dataset's name, e.g. digits") -}}
{{- end -}}

{{/*
The ingest pod, for the Job and the CronJob: `dlpipe ingest` with the configuration file.
An unchanged source is a no-op (its fingerprint is in the latest manifest), so a schedule
publishes a new version only when the source changed.
*/}}
{{- define "dlpipe-ingest.podSpec" -}}
{{ include "dlpipe.pod.header" (dict "context" . "restartPolicy" "Never" "scheduled" true) }}
containers:
  - name: ingest
    {{- include "dlpipe.imageFields" (dict "image" .Values.image "context" .) | nindent 4 }}
    args:
      - ingest
      - --config={{ include "dlpipe.layout.configFile" . }}
      - --root={{ .Values.sharedVolume.mountPath }}
    env:
      {{- with include "dlpipe.s3Env" . }}{{ . | trim | nindent 6 }}{{ end }}
      {{- with include "dlpipe.extraEnv" . }}{{ . | trim | nindent 6 }}{{ end }}
      - name: HOME
        value: /tmp
    securityContext:
      {{- include "dlpipe.containerSecurityContext" . | nindent 6 }}
    {{- with include "dlpipe.resources" (dict "resources" .Values.resources) }}{{ . | trim | nindent 4 }}{{ end }}
    volumeMounts:
      {{- include "dlpipe.volumeMounts" . | nindent 6 }}
      {{- include "dlpipe.job.configMount" . | nindent 6 }}
{{ include "dlpipe-ingest.volumes" . }}
{{- end -}}

{{/*
config.ingest.splits must add up to 1. The schema checks each NAME=FRACTION; the sum is this
check's, with the message `dlpipe ingest` gives (dlpipe.ingest.pipeline.parse_splits: a name
given twice counts once, its last fraction; a sum within 1e-6 of 1 is 1) naming the value's field.
*/}}
{{- define "dlpipe-ingest.checkSplits" -}}
{{- with .Values.config.ingest.splits -}}
{{- $fractions := dict -}}
{{- range splitList "," . -}}
{{- $part := splitList "=" . -}}
{{- $_ := set $fractions (first $part | trim) (last $part | trim | float64) -}}
{{- end -}}
{{- $sum := 0.0 -}}
{{- range $fractions }}{{ $sum = addf $sum . }}{{ end -}}
{{- $off := subf $sum 1.0 -}}
{{- if or (gt $off 0.000001) (lt $off -0.000001) -}}
{{- fail (printf "config.ingest.splits %s: the fractions add up to %s, not 1" (squote .) (printf "%.6g" $sum)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Everything the Job runs: a change makes a new Job instead of patching the old one. */}}
{{- define "dlpipe-ingest.jobName" -}}
{{- $run := printf "%s\n%s" (include "dlpipe-ingest.config" .) (include "dlpipe.image" (dict "image" .Values.image "context" .)) -}}
{{- include "dlpipe.job.name" (dict "context" . "checksum" (include "dlpipe.job.checksum" (dict "context" . "run" $run))) -}}
{{- end -}}

{{/* Pod volumes: the shared claim, /tmp, and the configuration file. */}}
{{- define "dlpipe-ingest.volumes" -}}
volumes:
  {{- include "dlpipe.volumes" (dict "claimName" .Values.sharedVolume.claimName "context" .) | nindent 2 }}
  {{- include "dlpipe.job.configVolume" (include "dlpipe-ingest.jobName" .) | nindent 2 }}
{{- end -}}
