// Trackly Functions: everything one environment needs, in its own resource group.
// Deployed by `azd up` / `azd provision` (parameters from main.parameters.json) or by
// .github/workflows/deploy.yml (`az deployment sub create`). See docs/deploy.md.
//
// Only local modules are used (no registry modules such as br/public:avm/...): the offline checks
// (pycep parse + checkov, scripts/check_infra.sh) can only see local files, so local modules are
// what gives the security scan real coverage. Each module is one small, readable resource group.

targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; used for the resource group name and the unique resource suffix.')
param environmentName string

// Regions that offer Flex Consumption (Azure-Samples/functions-quickstart-python-http-azd,
// infra/main.bicep at 7ed4638, 2025-11-24, without the eastus2euap canary). The list grows: check
// `az functionapp list-flexconsumption-locations --output table` and add the new region here.
// PostgreSQL Flexible Server and Web PubSub must be offered there too.
@minLength(1)
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@description('Region for every resource (must offer Flex Consumption, PostgreSQL Flexible Server and Web PubSub).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Optional resource group name (default rg-<environmentName>).')
param resourceGroupName string = ''

// --- the deploying principal (azd sets AZURE_PRINCIPAL_ID to the signed-in user) ---
@description('Object id of the deploying user or service principal: Key Vault Secrets Officer and PostgreSQL Entra administrator (runs migrations).')
param principalId string = ''
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'
@description('Name PostgreSQL knows the deploying principal by: the UPN of a user, the display name of a service principal or managed identity. Empty = no database administrator entry for the deployer.')
param principalName string = ''

// --- app configuration ---
// No default anywhere (main.parameters.json neither): a production deployment names its own front
// end, never a localhost fallback; an empty value is refused here (the shortest origin,
// https://x, has 9 characters), infra/hooks/check_origins.py checks the form before provisioning.
@minLength(9)
@description('The web front end origin, e.g. https://trackly.example.com (CORS for the API and for blob uploads).')
param frontendUrl string
@description('Comma-separated extra browser origins (optional); each is trimmed, empty entries are dropped (check_origins.py refuses them first).')
param corsAllowedOrigins string = ''
param signupEnabled bool = false
param logLevel string = 'INFO'
param googleClientId string = ''
param microsoftClientId string = ''
param microsoftAuthority string = 'https://login.microsoftonline.com/common'
param ssoAutoProvisionDomains string = ''

@secure()
@description('Optional JWT signing key (>= 32 bytes). Empty: keep the one in Key Vault; the postprovision hook creates it on first deployment.')
param jwtSecretKey string = ''
@secure()
param microsoftClientSecret string = ''
@secure()
param googleClientSecret string = ''

// --- database and connection budget ---
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
@description('Burstable has no built-in PgBouncer; the app then connects to 5432 directly.')
param postgresSkuTier string = 'GeneralPurpose'
param postgresSkuName string = 'Standard_D2ds_v5'
@description('max_connections of the chosen SKU (Standard_D2ds_v5: 859, Standard_B1ms: 50); check with SHOW max_connections.')
param postgresMaxConnections int = 859
@description('Connections kept free for Azure maintenance, migrations, admin sessions and PgBouncer overhead.')
param postgresReservedConnections int = 25
@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int = 7
param postgresGeoRedundantBackup bool = false
param postgresAllowAzureServices bool = true
@description('A client IP (e.g. the deployer\'s) allowed through the PostgreSQL firewall for migrations; empty = none.')
param postgresClientIp string = ''

// --- Functions scale ---
// Flex Consumption's lowest allowed maximumInstanceCount is 1 and its highest 1000: "Currently the
// lowest maximum instance count value is `1`" (Event-driven scaling in Azure Functions, "Limit
// scale-out", Flex Consumption pivot, revision ms.date 08/03/2026). Older revisions of the Flex
// Consumption plan page ("Considerations" > Scale, 05/12/2025 and before) said 40; the newest
// wins. scripts/check_flex.py (make check) holds the same numbers.
@minValue(1)
@maxValue(1000)
@description('Upper bound for Flex Consumption scale-out; the connection budget may lower it (never below 1).')
param functionMaxInstances int = 100

@minValue(1)
@maxValue(50)
@description('Concurrent HTTP requests per instance (Flex default for Python: 1). Also the worker thread count and the SQLAlchemy pool size; see bench/concurrency.py.')
param httpPerInstanceConcurrency int = 8
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@allowed([
  'Free_F1'
  'Standard_S1'
])
param webPubSubSku string = 'Standard_S1'

@allowed([
  'Standard_GRS'
  'Standard_RAGRS'
  'Standard_GZRS'
  'Standard_RAGZRS'
  'Standard_ZRS'
  'Standard_LRS'
])
@description('Replication of both storage accounts (attachments are user data: geo-redundant by default).')
param storageSku string = 'Standard_GRS'

@description('Zone-redundant Flex Consumption plan (only in some regions; keeps >= 2 always-ready instances, billed).')
param zoneRedundant bool = false

// --- alerts (infra/modules/alerts.bicep; what each means: docs/operations.md) ---
@description('E-mail address the alert action group notifies (empty: the group has no receiver yet).')
param alertEmail string = ''
@description('Alert when more than this share of HTTP invocations answer 5xx (percent, 15 minutes).')
param alertServerErrorPercent int = 5
@description('Alert when the 95th percentile HTTP duration exceeds this (ms, 15 minutes).')
param alertLatencyP95Ms int = 1500
@description('Alert when the oldest unpublished live-update event is older than this (seconds).')
param alertOutboxLagSeconds int = 300

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'trackly'
}
var functionAppName = '${abbrs.webSitesFunctions}trackly-${resourceToken}'
var identityName = '${abbrs.managedIdentityUserAssignedIdentities}trackly-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var attachmentsContainerName = 'issue-files'

// Connection budget. The unit is the instance: one Python worker process per instance
// (FUNCTIONS_WORKER_PROCESS_COUNT is not set; its default is 1), one engine per process, and a
// pool as large as the instance's HTTP concurrency (one connection per worker thread) plus
// trackly/db.py's max_overflow of 2. So
//   instances x (concurrency + 2) <= max_connections - reserve.
// PgBouncer (transaction pooling) multiplexes these client connections onto fewer server
// connections, so this bound is conservative: it also holds if PgBouncer is bypassed.
// Flex Consumption's floor is 1, so the budget alone decides (Standard_B1ms: (50 - 25) / 10 = 2).
// PgBouncer's server pool (pgbouncer.default_pool_size, one pool: one app role, one database) gets
// the same budget, so every client connection the instances can open finds a server connection
// and no transaction queues in PgBouncer (its default of 50 would queue them into 503s).
var flexLowestMaximumInstanceCount = 1
var maxOverflow = 2
var databasePoolSize = httpPerInstanceConcurrency
var connectionsPerInstance = databasePoolSize + maxOverflow
var connectionBudget = postgresMaxConnections - postgresReservedConnections
var maximumInstanceCount = max(flexLowestMaximumInstanceCount, min(functionMaxInstances, connectionBudget / connectionsPerInstance))
// (Azure allows 1..4950 for pgbouncer.default_pool_size.)
var pgBouncerPoolSize = min(4950, max(1, connectionBudget))

// Browser origins: frontendUrl, then the extra ones, each trimmed. infra/hooks/check_origins.py
// (azd's preprovision hook, deploy.yml before the deployment) refuses an empty entry (a stray
// comma) and anything that is not an https origin; here empties are dropped as a second line, so
// CORS never receives "". (No map()/fail(): the offline Bicep parser does not know them.)
var trimmedOrigins = [for origin in split(corsAllowedOrigins, ','): trim(origin)]
var extraOrigins = filter(trimmedOrigins, origin => !empty(origin))
var allowedOrigins = union([trim(frontendUrl)], extraOrigins)

// Timeouts as server parameters: they apply to every session, including PgBouncer's server
// connections, even when the hook's ALTER ROLE ... SET is refused (no ADMIN OPTION on
// PostgreSQL 16). The same values as the app settings (lock, idle in transaction) and the hook's
// statement backstop (APP_STATEMENT_TIMEOUT); migrations and admin sessions SET their own.
var serverStatementTimeoutMs = 60000
var serverLockTimeoutMs = 5000
var serverIdleInTransactionTimeoutMs = 60000

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: identityName
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module hostStorage 'modules/storage.bicep' = {
  name: 'host-storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}f${resourceToken}'
    location: location
    tags: tags
    skuName: storageSku
    containerNames: [
      deploymentContainerName
    ]
  }
}

module attachmentsStorage 'modules/storage.bicep' = {
  name: 'attachments-storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}a${resourceToken}'
    location: location
    tags: tags
    skuName: storageSku
    containerNames: [
      attachmentsContainerName
    ]
    corsRules: [
      {
        allowedOrigins: allowedOrigins
        allowedMethods: [
          'PUT'
          'GET'
          'HEAD'
          'OPTIONS'
        ]
        allowedHeaders: [
          'x-ms-blob-type'
          'content-type'
          'x-ms-*'
        ]
        exposedHeaders: [
          'etag'
          'content-length'
          'content-type'
          'x-ms-*'
        ]
        maxAgeInSeconds: 3600
      }
    ]
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    jwtSecretKey: jwtSecretKey
    microsoftClientSecret: microsoftClientSecret
    googleClientSecret: googleClientSecret
  }
}

module webPubSub 'modules/webpubsub.bicep' = {
  name: 'webpubsub'
  scope: rg
  params: {
    name: '${abbrs.signalRServiceWebPubSub}${resourceToken}'
    location: location
    tags: tags
    skuName: webPubSubSku
    hubName: 'trackly'
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  scope: rg
  params: {
    name: '${abbrs.dBforPostgreSQLServers}${resourceToken}'
    location: location
    tags: tags
    skuTier: postgresSkuTier
    skuName: postgresSkuName
    backupRetentionDays: postgresBackupRetentionDays
    geoRedundantBackup: postgresGeoRedundantBackup
    databaseName: 'trackly'
    pgBouncerPoolSize: pgBouncerPoolSize
    statementTimeoutMs: serverStatementTimeoutMs
    lockTimeoutMs: serverLockTimeoutMs
    idleInTransactionTimeoutMs: serverIdleInTransactionTimeoutMs
    allowAzureServices: postgresAllowAzureServices
    allowedIpRanges: empty(postgresClientIp) ? [] : [
      {
        name: 'deployer-client'
        start: postgresClientIp
        end: postgresClientIp
      }
    ]
    // Only the deployer administers the server (it runs the migrations). The app's identity is
    // an ordinary role the postprovision hook creates with pgaadauth_create_principal_with_oid.
    entraAdministrators: (empty(principalId) || empty(principalName)) ? [] : [
      {
        objectId: principalId
        principalName: principalName
        principalType: principalType
      }
    ]
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    hostStorageName: hostStorage.outputs.name
    attachmentsStorageName: attachmentsStorage.outputs.name
    webPubSubName: webPubSub.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    deployerPrincipalId: principalId
    deployerPrincipalType: principalType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityName: identity.outputs.name
    hostStorageBlobEndpoint: hostStorage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    jwtSecretUri: keyVault.outputs.jwtSecretUri
    webhookKeySecretUri: keyVault.outputs.webhookKeySecretUri
    microsoftClientSecretUri: keyVault.outputs.microsoftClientSecretUri
    googleClientSecretUri: keyVault.outputs.googleClientSecretUri
    attachmentsStorageName: attachmentsStorage.outputs.name
    attachmentsBlobEndpoint: attachmentsStorage.outputs.blobEndpoint
    attachmentsContainerName: attachmentsContainerName
    webPubSubEndpoint: webPubSub.outputs.endpoint
    webPubSubHub: webPubSub.outputs.hubName
    postgresHost: postgres.outputs.host
    postgresPort: postgres.outputs.port
    postgresDatabase: postgres.outputs.databaseName
    databasePoolSize: databasePoolSize
    maximumInstanceCount: maximumInstanceCount
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    instanceMemoryMB: instanceMemoryMB
    zoneRedundant: zoneRedundant
    frontendUrl: trim(frontendUrl)
    allowedOrigins: allowedOrigins
    logLevel: logLevel
    signupEnabled: signupEnabled
    googleClientId: googleClientId
    microsoftClientId: microsoftClientId
    microsoftAuthority: microsoftAuthority
    ssoAutoProvisionDomains: ssoAutoProvisionDomains
  }
  // Roles first: the host, the deployment container and the Key Vault references need them.
  dependsOn: [
    rbac
  ]
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: 'trackly-${resourceToken}'
    location: location
    tags: tags
    alertEmail: alertEmail
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    postgresServerId: postgres.outputs.id
    storageAccountIds: [
      attachmentsStorage.outputs.id
      hostStorage.outputs.id
    ]
    serverErrorPercent: alertServerErrorPercent
    latencyP95Ms: alertLatencyP95Ms
    outboxLagSeconds: alertOutboxLagSeconds
    // 80% of what the server accepts: the budget above keeps the app below max_connections - reserve.
    postgresConnectionsThreshold: postgresMaxConnections * 8 / 10
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    name: 'Trackly operations (${environmentName})'
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    postgresServerId: postgres.outputs.id
  }
}

// --- outputs: azd stores them in .azure/<env>/.env; deploy.yml and the hooks read them ---
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_ENDPOINT_URL string = functionApp.outputs.uri
output API_URL string = '${functionApp.outputs.uri}/api'
output FUNCTION_MAXIMUM_INSTANCE_COUNT int = maximumInstanceCount
output FUNCTION_HTTP_PER_INSTANCE_CONCURRENCY int = httpPerInstanceConcurrency
output POSTGRES_PGBOUNCER_POOL_SIZE int = pgBouncerPoolSize
output AZURE_MANAGED_IDENTITY_NAME string = identity.outputs.name
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output JWT_SECRET_NAME string = keyVault.outputs.jwtSecretName
output WEBHOOK_KEY_SECRET_NAME string = keyVault.outputs.webhookKeySecretName
output POSTGRES_SERVER_NAME string = postgres.outputs.name
output POSTGRES_HOST string = postgres.outputs.host
output POSTGRES_DATABASE string = postgres.outputs.databaseName
output POSTGRES_APP_PORT int = postgres.outputs.port
output POSTGRES_ADMIN_PRINCIPAL_NAME string = principalName
output ATTACHMENTS_STORAGE_ACCOUNT string = attachmentsStorage.outputs.name
output WEB_PUBSUB_ENDPOINT string = webPubSub.outputs.endpoint
