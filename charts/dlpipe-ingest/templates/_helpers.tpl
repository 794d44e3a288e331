{{/* The configuration file, exactly as dlpipe reads it. */}}
{{- define "dlpipe-ingest.config" -}}
{{- $_ := required "config.ingest.source is required: s3://bucket/key, https://…, sample:digits or a path on the shared volume" .Values.config.ingest.source -}}
{{- $_ := required "config.ingest.dataset is required: the dataset's name, e.g. digits" .Values.config.ingest.dataset -}}
{{- toYaml .Values.config -}}
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
