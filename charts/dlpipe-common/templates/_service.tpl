{{/*
A Service for a component's web page (its container port named http), e.g. TensorBoard.
Call with (dict "context" $ "component" "<component>" "port" <service port>).
*/}}
{{- define "dlpipe.httpService" -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "dlpipe.metadata" . | nindent 2 }}
spec:
  selector:
    {{- include "dlpipe.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .port | int64 }}
      targetPort: http
{{- end -}}
