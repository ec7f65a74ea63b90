// Azure Web PubSub for live updates, with access keys disabled: the Function App calls the REST
// API and mints client access tokens with its managed identity (Web PubSub Service Owner), so
// WEBPUBSUB_CONNECTION_STRING stays empty in Azure and WEBPUBSUB_ENDPOINT is used instead.

param name string
param location string
param tags object = {}

@allowed([
  'Free_F1'
  'Standard_S1'
  'Premium_P1'
])
param skuName string = 'Standard_S1'

@minValue(1)
param capacity int = 1

param hubName string = 'trackly'

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuName == 'Free_F1' ? 'Free' : (skuName == 'Premium_P1' ? 'Premium' : 'Standard')
    capacity: skuName == 'Free_F1' ? 1 : capacity
  }
  identity: {
    type: 'None'
  }
  properties: {
    disableLocalAuth: true
    disableAadAuth: false
    publicNetworkAccess: 'Enabled'
    tls: {
      clientCertEnabled: false
    }
  }
}

resource hub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = {
  parent: webPubSub
  name: hubName
  properties: {
    // Clients connect only with a token the API issued (GET /api/realtime/negotiate or similar).
    anonymousConnectPolicy: 'deny'
    eventHandlers: []
  }
}

output id string = webPubSub.id
output name string = webPubSub.name
output endpoint string = 'https://${webPubSub.properties.hostName}'
output hubName string = hub.name
