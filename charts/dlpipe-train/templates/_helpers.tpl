{{/* The configuration file: config, plus where the workers find each other in a multi-worker run. */}}
{{- define "dlpipe-train.config" -}}
{{- $_ := required "config.train.dataset is required: NAME or NAME@VERSION of an ingested dataset" .Values.config.train.dataset -}}
{{- $config := deepCopy .Values.config -}}
{{- if include "dlpipe-train.multiWorker" . -}}
{{- $_ := set $config.train "workers" (int .Values.distributed.workers) -}}
{{- $_ := set $config.train "port" (int .Values.distributed.port) -}}
{{- $_ := set $config.train "service" (include "dlpipe-train.jobName" .) -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* Everything that defines a run: a change makes a new Job (a new run) instead of patching the old one. */}}
{{- define "dlpipe-train.jobName" -}}
{{- $checksum := printf "%s\n%s\n%v\n%v" (toYaml .Values.config) (include "dlpipe.image" (dict "image" .Values.image "context" .)) .Values.gpus .Values.distributed -}}
{{- include "dlpipe.job.name" (dict "context" . "checksum" $checksum) -}}
{{- end -}}

{{/* The run id: config.run_id, else the Job's name. */}}
{{- define "dlpipe-train.runId" -}}
{{- .Values.config.run_id | default (include "dlpipe-train.jobName" .) -}}
{{- end -}}

{{/* Several workers in an Indexed Job (with a TFJob, the operator wires the workers up). */}}
{{- define "dlpipe-train.multiWorker" -}}
{{- if and (gt (int .Values.distributed.workers) 1) (ne .Values.distributed.backend "tfjob") }}true{{ end -}}
{{- end -}}
