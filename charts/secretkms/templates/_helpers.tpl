{{/* Names, labels and the pieces several templates share. */}}

{{- define "secretkms.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "secretkms.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "secretkms.selectorLabels" -}}
app.kubernetes.io/name: {{ include "secretkms.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "secretkms.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "secretkms.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: secretkms
{{- end }}

{{- define "secretkms.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "secretkms.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "secretkms.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the serving certificate, whichever way it is provisioned. */}}
{{- define "secretkms.tlsSecretName" -}}
{{- if eq .Values.tls.mode "existingSecret" }}
{{- required "tls.existingSecret.name is required when tls.mode is existingSecret" .Values.tls.existingSecret.name }}
{{- else }}
{{- printf "%s-tls" (include "secretkms.fullname" .) }}
{{- end }}
{{- end }}

{{/* DNS names the apiserver may use for the Service. */}}
{{- define "secretkms.serviceDnsNames" -}}
{{- $svc := include "secretkms.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) | toJson }}
{{- end }}

{{/* Fails the render on combinations that cannot work, naming the values involved. */}}
{{- define "secretkms.validate" -}}
{{- $rrsa := .Values.credentials.rrsa }}
{{- if and $rrsa.enabled .Values.credentials.accessKey.existingSecret }}
{{- fail "credentials: choose one of rrsa.enabled and accessKey.existingSecret, not both" }}
{{- end }}
{{- if and $rrsa.enabled (not $rrsa.roleName) (not $rrsa.roleArn) }}
{{- fail "credentials.rrsa.enabled needs rrsa.roleName (ack-pod-identity-webhook) or rrsa.roleArn with rrsa.oidcProviderArn" }}
{{- end }}
{{- if and $rrsa.enabled $rrsa.roleName $rrsa.roleArn }}
{{- fail "credentials.rrsa: set roleName (ack-pod-identity-webhook injects the credentials) or roleArn (the chart projects the token itself), not both" }}
{{- end }}
{{- if and $rrsa.enabled $rrsa.roleArn (not $rrsa.oidcProviderArn) }}
{{- fail "credentials.rrsa.roleArn needs credentials.rrsa.oidcProviderArn" }}
{{- end }}
{{- if and .Values.secretEncryption.create (not .Values.secretEncryption.key) }}
{{- fail "secretEncryption.key is required when secretEncryption.create is true (the KMS key id, alias/... or ARN); set secretEncryption.create=false to manage the SecretEncryption yourself" }}
{{- end }}
{{- if and (eq .Values.tls.mode "existingSecret") (not .Values.tls.existingSecret.caBundle) }}
{{- fail "tls.existingSecret.caBundle (the CA's PEM) is required when tls.mode is existingSecret" }}
{{- end }}
{{- if and .Values.tls.clientCA.configMap (not .Values.metrics.enabled) }}
{{- fail "tls.clientCA.configMap needs metrics.enabled: the kubelet's probes have no client certificate, so they use the metrics port" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- end }}
