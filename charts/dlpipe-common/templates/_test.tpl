{{/*
The head of a chart's `helm test` Pod: <fullname>-test, labelled component "test", a test
hook that is deleted before the next run and once it succeeds (a failed one stays for its logs).
*/}}
{{- define "dlpipe.test.header" -}}
apiVersion: v1
kind: Pod
metadata:
  {{- include "dlpipe.metadata" (dict "context" . "component" "test") | nindent 2 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}
