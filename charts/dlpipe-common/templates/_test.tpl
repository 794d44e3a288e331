{{/*
The head of a chart's `helm test` Pod: <fullname>-test, labelled component "test", a test
hook that is deleted before the next run and once it succeeds (a failed one stays for its logs).
It runs once to completion, so it has no probes: checkov is told why (see .checkov.yaml).
*/}}
{{- define "dlpipe.test.header" -}}
apiVersion: v1
kind: Pod
metadata:
  {{- include "dlpipe.metadata" (dict "context" . "component" "test") | nindent 2 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
    checkov.io/skip1: CKV_K8S_8=a helm test pod runs once to completion; there is nothing to keep alive
    checkov.io/skip2: CKV_K8S_9=a helm test pod serves nothing; there is no readiness to probe
{{- end -}}
