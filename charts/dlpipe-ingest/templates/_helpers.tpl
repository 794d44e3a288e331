{{/* The configuration file, exactly as dlpipe reads it. */}}
{{- define "dlpipe-ingest.config" -}}
{{- $_ := required "config.ingest.source is required: s3://bucket/key, https://…, sample:digits or a path on the shared volume" .Values.config.ingest.source -}}
{{- $_ := required "config.ingest.dataset is required: the dataset's name, e.g. digits" .Values.config.ingest.dataset -}}
{{- include "dlpipe-ingest.checkSplits" . -}}
{{- include "dlpipe.stageConfig" (dict "context" . "config" .Values.config) -}}
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

{{/* Everything that defines a run: a change makes a new Job instead of patching the old one. */}}
{{- define "dlpipe-ingest.jobName" -}}
{{- $checksum := printf "%s\n%s" (include "dlpipe-ingest.config" .) (include "dlpipe.image" (dict "image" .Values.image "context" .)) -}}
{{- include "dlpipe.job.name" (dict "context" . "checksum" $checksum) -}}
{{- end -}}

{{/* Pod volumes: the shared claim, /tmp, and the configuration file. */}}
{{- define "dlpipe-ingest.volumes" -}}
volumes:
  {{- include "dlpipe.volumes" (dict "claimName" .Values.sharedVolume.claimName "context" .) | nindent 2 }}
  {{- include "dlpipe.job.configVolume" (include "dlpipe-ingest.jobName" .) | nindent 2 }}
{{- end -}}
