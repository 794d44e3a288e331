{{/*
The shared volume (one ReadWriteMany claim, see the dlpipe-storage chart) and
the writable /tmp that a read-only root file system needs.
*/}}

{{/* Pod volumes. Call with (dict "claimName" "<claim>" "context" $). */}}
{{- define "dlpipe.volumes" -}}
- name: data
  persistentVolumeClaim:
    claimName: {{ required "sharedVolume.claimName is required: the claim made by the dlpipe-storage chart" .claimName }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .context.Values.tmpSizeLimit | default "1Gi" }}
{{- end -}}

{{/* Container mounts: the volume at sharedVolume.mountPath (default dlpipe.layout.podRoot), /tmp. */}}
{{- define "dlpipe.volumeMounts" -}}
{{- $shared := .Values.sharedVolume | default dict -}}
- name: data
  mountPath: {{ $shared.mountPath | default (include "dlpipe.layout.podRoot" .) }}
  {{- with $shared.subPath }}
  subPath: {{ . }}
  {{- end }}
- name: tmp
  mountPath: /tmp
{{- end -}}
