// Key Vault in RBAC mode (no access policies) with soft delete and purge protection.
// It holds the JWT signing key, the webhook secrets' encryption key and, when given, the SSO
// client secrets. The Function App reads
// them through Key Vault references with its user-assigned identity (Key Vault Secrets User).
//
// JWT signing key: when `jwtSecretKey` is empty (the default) Bicep does not touch the secret and
// infra/hooks/postprovision.sh creates it once, with a random value, if it does not exist yet. So
// the key never passes through deployment parameters or deployment history, and it is not rotated
// by accident on every deployment (a newGuid() default would do that and sign everybody out).
// Passing a value writes it (use that to rotate deliberately).

param name string
param location string
param tags object = {}
param tenantId string = subscription().tenantId

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@secure()
@description('Optional: the JWT signing key. Empty = leave the secret as it is (the postprovision hook creates it once).')
param jwtSecretKey string = ''

@secure()
@description('Optional: Microsoft Entra client secret for "Sign in with Microsoft".')
param microsoftClientSecret string = ''

@secure()
@description('Optional: Google OAuth client secret for "Sign in with Google".')
param googleClientSecret string = ''

var jwtSecretName = 'jwt-secret-key'
// Created once by infra/hooks/postprovision.sh, like the JWT key (never a deployment parameter).
var webhookKeySecretName = 'webhook-secret-key'
var microsoftSecretName = 'microsoft-client-secret'
var googleSecretName = 'google-client-secret'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Only the secrets that were given are written (a loop over a filtered list rather than `if`
// resources, so that the offline checkov scan can read their properties).
var jwtSecretList = empty(jwtSecretKey) ? [] : [
  {
    name: jwtSecretName
    value: jwtSecretKey
  }
]
var microsoftSecretList = empty(microsoftClientSecret) ? [] : [
  {
    name: microsoftSecretName
    value: microsoftClientSecret
  }
]
var googleSecretList = empty(googleClientSecret) ? [] : [
  {
    name: googleSecretName
    value: googleClientSecret
  }
]
var secrets = concat(jwtSecretList, microsoftSecretList, googleSecretList)

resource secretValues 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for secret in secrets: {
  parent: vault
  name: secret.name
  properties: {
    value: secret.value
    contentType: 'text/plain'
  }
}]

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
output jwtSecretName string = jwtSecretName
// Versionless secret URIs: the app picks up a new version on its next Key Vault reference refresh.
output jwtSecretUri string = '${vault.properties.vaultUri}secrets/${jwtSecretName}'
output webhookKeySecretName string = webhookKeySecretName
output webhookKeySecretUri string = '${vault.properties.vaultUri}secrets/${webhookKeySecretName}'
output microsoftClientSecretUri string = empty(microsoftClientSecret) ? '' : '${vault.properties.vaultUri}secrets/${microsoftSecretName}'
output googleClientSecretUri string = empty(googleClientSecret) ? '' : '${vault.properties.vaultUri}secrets/${googleSecretName}'
