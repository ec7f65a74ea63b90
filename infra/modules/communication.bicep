// Email notifications through Azure Communication Services, with no secret anywhere:
// - an Email Communication Services resource with an Azure-managed domain (DoNotReply@<guid>.azurecomm.net,
//   no DNS work; a custom domain can be linked later),
// - a Communication Services resource linked to that domain (the endpoint the app sends to).
// The app's managed identity gets the built-in Communication and Email Service Owner role on the
// Communication Services resource in rbac.bicep (every role assignment lives there).
// The app picks this transport when ACS_EMAIL_ENDPOINT is set and SMTP_HOST is empty.

param name string
param emailServiceName string
param tags object = {}

@description('Where the Communication Services data is kept (a geography, not a region).')
param dataLocation string = 'Europe'

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

output name string = communication.name
output endpoint string = 'https://${communication.properties.hostName}'
output senderAddress string = 'DoNotReply@${managedDomain.properties.mailFromSenderDomain}'
