{{/*
The backend this release uses: dynamic, nfs, efs or existingClaim. Fails,
naming the fields, when more than one is chosen.
*/}}
{{- define "dlpipe-storage.backend" -}}
{{- $chosen := list -}}
{{- if .Values.nfs.server }}{{ $chosen = append $chosen "nfs.server" }}{{ end -}}
{{- if .Values.efs.fileSystemId }}{{ $chosen = append $chosen "efs.fileSystemId" }}{{ end -}}
{{- if .Values.existingClaim }}{{ $chosen = append $chosen "existingClaim" }}{{ end -}}
{{- if gt (len $chosen) 1 -}}
{{- fail (printf "dlpipe-storage: %s conflict; set only one of nfs.server, efs.fileSystemId and existingClaim (or none, for a dynamic claim)" (join ", " $chosen)) -}}
{{- end -}}
{{- if and .Values.nfs.path (not .Values.nfs.server) -}}
{{- fail "dlpipe-storage: nfs.path is set but nfs.server is empty; set nfs.server to the NFS server's host name or IP" -}}
{{- end -}}
{{- if and .Values.efs.accessPointId (not .Values.efs.fileSystemId) -}}
{{- fail "dlpipe-storage: efs.accessPointId is set but efs.fileSystemId is empty; set the file system id (fs-…) too" -}}
{{- end -}}
{{- if .Values.nfs.server }}nfs
{{- else if .Values.efs.fileSystemId }}efs
{{- else if .Values.existingClaim }}existingClaim
{{- else }}dynamic
{{- end -}}
{{- end -}}

{{/* The claim stages mount; in a pipeline, the one its stages are told (dlpipe.pipeline.claimName). */}}
{{- define "dlpipe-storage.claimName" -}}
{{- .Values.existingClaim | default (include "dlpipe.pipeline.claimName" .) | default (include "dlpipe.fullname" .) -}}
{{- end -}}

{{/* PersistentVolumes are cluster-scoped: the namespace keeps the name unique. */}}
{{- define "dlpipe-storage.volumeName" -}}
{{- printf "%s-%s" (include "dlpipe.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{/* The data volume and the writable /tmp of this chart's pods. */}}
{{- define "dlpipe-storage.podVolumes" -}}
volumes:
  {{- include "dlpipe.volumes" (dict "claimName" (include "dlpipe-storage.claimName" .) "context" .) | nindent 2 }}
{{- end -}}
