// Email notifications through Azure Communication Services, with no secret anywhere:
// - an Email Communication Services resource with an Azure-managed domain (DoNotReply@<guid>.azurecomm.net,
//   no DNS work; a custom domain can be linked later),
// - a Communication Services resource linked to that domain (the endpoint the app sends to),
// - a least-privilege custom role for the app's managed identity on that one resource: read the
//   resource and send email (what the Email REST API and its SMTP endpoint check with Entra auth).
// The app picks this transport when ACS_EMAIL_ENDPOINT is set and SMTP_HOST is empty.

param name string
param emailServiceName string
param tags object = {}

@description('Where the Communication Services data is kept (a geography, not a region).')
param dataLocation string = 'Europe'

@description('Principal id of the identity the Function App runs as.')
param identityPrincipalId string

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: emailServiceName
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
  }
}

resource managedDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    // No tracking pixels or rewritten links in notification emails.
    userEngagementTracking: 'Disabled'
  }
}

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: name
  location: 'global'
  tags: tags
  properties: {
    dataLocation: dataLocation
    linkedDomains: [
      managedDomain.id
    ]
  }
}

// Only what sending needs, on this resource only (no key listing, no management writes).
resource emailSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'trackly-email-sender')
  properties: {
    roleName: 'Trackly email sender (${resourceGroup().name})'
    description: 'Send email through one Azure Communication Services resource with Entra ID.'
    type: 'CustomRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: [
          'Microsoft.Communication/CommunicationServices/Read'
          'Microsoft.Communication/EmailServices/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

resource appCanSend 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, identityPrincipalId, emailSenderRole.id)
  scope: communication
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: emailSenderRole.id
  }
}

output name string = communication.name
output endpoint string = 'https://${communication.properties.hostName}'
output senderAddress string = 'DoNotReply@${managedDomain.properties.mailFromSenderDomain}'
