{{/*
The training pod. Call with (dict "context" $ "container" "<name>" "restartPolicy" "<policy>" ["pending" true]).
With "pending" it trains the dataset versions that have no run yet (`dlpipe train --pending`).
A TFJob wants its container named "tensorflow", labels pods with its own job-name label, and
takes the workers' port from a container port named tfjob-port; a TrainJob overrides the
container named "node". In a JobSet (a TrainJob runs one) the pod learns where it is from
JobSet's labels, which dlpipe turns into TF_CONFIG (dlpipe.train.strategy).
*/}}
{{- define "dlpipe-train.podSpec" -}}
{{- $job := include "dlpipe-train.jobName" .context -}}
{{- $container := .container -}}
{{- $restartPolicy := .restartPolicy -}}
{{- $pending := .pending -}}
{{- with .context -}}
{{- $jobLabel := include "dlpipe-train.jobLabel" . -}}
{{ include "dlpipe.pod.header" (dict "context" . "restartPolicy" $restartPolicy "scheduled" true) }}
{{- if include "dlpipe-train.indexedJob" . }}
subdomain: {{ $job }}
{{- end }}
{{- include "dlpipe.wait.initContainers" (dict "context" . "name" "wait-dataset" "args" (list "dataset" "verify" (include "dlpipe-train.dataset" .))) }}
containers:
  - name: {{ $container }}
    {{- include "dlpipe.imageFields" (dict "image" .Values.image "context" .) | nindent 4 }}
    args:
      - train
      {{- if $pending }}
      - --pending
      {{- end }}
      - --config={{ include "dlpipe.layout.configFile" . }}
      - --root={{ .Values.sharedVolume.mountPath }}
    env:
      {{- if has .Values.distributed.backend (list "jobset" "trainjob") }}
      {{- range $name, $label := dict "JOBSET_NAME" "jobset-name" "JOBSET_REPLICATED_JOB" "replicatedjob-name" "JOBSET_JOB_INDEX" "job-index" }}
      - name: {{ $name }}
        valueFrom:
          fieldRef:
            fieldPath: metadata.labels['jobset.sigs.k8s.io/{{ $label }}']
      {{- end }}
      {{- else }}
      - name: JOB_NAME
        valueFrom:
          fieldRef:
            fieldPath: metadata.labels['{{ $jobLabel }}']
      {{- end }}
      {{- if not (or .Values.config.run_id $pending) }}
      # One run per Job: every worker, and every retry, works on the same run.
      - name: DLPIPE_RUN_ID
        valueFrom:
          fieldRef:
            fieldPath: metadata.labels['{{ $jobLabel }}']
      {{- end }}
      - name: HOME
        value: /tmp
      {{- with include "dlpipe.s3Env" . }}{{ . | trim | nindent 6 }}{{ end }}
      {{- with include "dlpipe.extraEnv" . }}{{ . | trim | nindent 6 }}{{ end }}
    {{- if gt (int .Values.distributed.workers) 1 }}
    ports:
      - name: {{ ternary "tfjob-port" "worker" (eq .Values.distributed.backend "tfjob") }}
        containerPort: {{ .Values.distributed.port | int64 }}
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
