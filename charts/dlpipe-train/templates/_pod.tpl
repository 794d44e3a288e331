{{/*
The training pod. Call with (dict "context" $ "container" "<name>" "jobLabel" "<label naming the job>").
A TFJob wants its container named "tensorflow" and labels pods with its own job-name label.
*/}}
{{- define "dlpipe-train.podSpec" -}}
{{- $job := include "dlpipe-train.jobName" .context -}}
{{- $jobLabel := .jobLabel -}}
{{- $container := .container -}}
{{- with .context -}}
{{ include "dlpipe.pod.defaults" . }}
{{- if include "dlpipe-train.multiWorker" . }}
subdomain: {{ $job }}
{{- end }}
{{- with include "dlpipe.scheduling" . }}{{ . | trim | nindent 0 }}{{ end }}
containers:
  - name: {{ $container }}
    {{- include "dlpipe.imageFields" (dict "image" .Values.image "context" .) | nindent 4 }}
    args:
      - train
      - --config={{ include "dlpipe.layout.configFile" . }}
      - --root={{ .Values.sharedVolume.mountPath }}
    env:
      - name: JOB_NAME
        valueFrom:
          fieldRef:
            fieldPath: metadata.labels['{{ $jobLabel }}']
      {{- if not .Values.config.run_id }}
      # One run per Job: every worker, and every retry, works on the same run.
      - name: DLPIPE_RUN_ID
        valueFrom:
          fieldRef:
            fieldPath: metadata.labels['{{ $jobLabel }}']
      {{- end }}
      - name: HOME
        value: /tmp
      {{- with include "dlpipe.s3Env" . }}{{ . | trim | nindent 6 }}{{ end }}
      {{- with .Values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- if include "dlpipe-train.multiWorker" . }}
    ports:
      - name: worker
        containerPort: {{ .Values.distributed.port }}
    {{- end }}
    securityContext:
      {{- include "dlpipe.containerSecurityContext" . | nindent 6 }}
    {{- with include "dlpipe.resources" (dict "resources" .Values.resources "gpus" .Values.gpus) }}{{ . | trim | nindent 4 }}{{ end }}
    volumeMounts:
      {{- include "dlpipe.volumeMounts" . | nindent 6 }}
      {{- include "dlpipe.job.configMount" . | nindent 6 }}
      - name: shm
        mountPath: /dev/shm
volumes:
  {{- include "dlpipe.volumes" (dict "claimName" .Values.sharedVolume.claimName "context" .) | nindent 2 }}
  {{- include "dlpipe.job.configVolume" $job | nindent 2 }}
  - name: shm
    emptyDir:
      medium: Memory
      sizeLimit: {{ .Values.shmSizeLimit }}
{{- end -}}
{{- end -}}
