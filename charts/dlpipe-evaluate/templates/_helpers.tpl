{{/* The configuration file, exactly as dlpipe reads it. */}}
{{- define "dlpipe-evaluate.config" -}}
{{- $_ := required "config.evaluate.model_name is required: the name to publish under, as TF Serving serves it" .Values.config.evaluate.model_name -}}
{{- if not (or .Values.config.run_id .Values.continuous.enabled) -}}
{{- fail "config.run_id is required (the training run to evaluate), unless continuous.enabled evaluates every finished run" -}}
{{- end -}}
{{- include "dlpipe.stageConfig" (dict "context" . "config" .Values.config) -}}
{{- end -}}

{{/* Everything that defines an evaluation: a change makes a new Job instead of patching the old one. */}}
{{- define "dlpipe-evaluate.jobName" -}}
{{- $checksum := printf "%s\n%s" (include "dlpipe-evaluate.config" .) (include "dlpipe.image" (dict "image" .Values.image "context" .)) -}}
{{- include "dlpipe.job.name" (dict "context" . "checksum" $checksum) -}}
{{- end -}}

{{/* The pod of an evaluation, for the Job and the CronJob. Call with (dict "context" $ "args" (list ...)). */}}
{{- define "dlpipe-evaluate.podSpec" -}}
{{- $ := .context -}}
{{ include "dlpipe.pod.header" (dict "context" $ "restartPolicy" "Never" "scheduled" true) }}
containers:
  - name: evaluate
    {{- include "dlpipe.imageFields" (dict "image" $.Values.image "context" $) | nindent 4 }}
    args:
      {{- toYaml .args | nindent 6 }}
    env:
      - name: HOME
        value: /tmp
      {{- with include "dlpipe.extraEnv" $ }}{{ . | trim | nindent 6 }}{{ end }}
    securityContext:
      {{- include "dlpipe.containerSecurityContext" $ | nindent 6 }}
    {{- with include "dlpipe.resources" (dict "resources" $.Values.resources) }}{{ . | trim | nindent 4 }}{{ end }}
    volumeMounts:
      {{- include "dlpipe.volumeMounts" $ | nindent 6 }}
      {{- include "dlpipe.job.configMount" $ | nindent 6 }}
volumes:
  {{- include "dlpipe.volumes" (dict "claimName" $.Values.sharedVolume.claimName "context" $) | nindent 2 }}
  {{- include "dlpipe.job.configVolume" (include "dlpipe-evaluate.jobName" $) | nindent 2 }}
{{- end -}}
