// User-assigned managed identity used by the Function App for everything it reaches:
// host storage, attachments storage, Key Vault references, Web PubSub, PostgreSQL, App Insights.
// A user-assigned identity (rather than system-assigned) exists before the app does, so role
// assignments and the PostgreSQL Entra administrator can be created in the same deployment.

param name string
param location string
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
