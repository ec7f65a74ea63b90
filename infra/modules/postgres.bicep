// PostgreSQL Flexible Server 16 with Microsoft Entra authentication.
// - Password authentication is a parameter (off by default): nobody holds a database password.
// - Only the deploying principal is an Entra administrator (it runs the migrations); the app's
//   identity is an ordinary role created by infra/hooks/postprovision.sh.
// - Built-in PgBouncer (port 6432) absorbs connection fan-out from scaled-out instances; it is
//   not available on the Burstable tier, so it is switched on only for GeneralPurpose and
//   MemoryOptimized (the `port` output tells the app where to connect).
// - PgBouncer's server pool (pgbouncer.default_pool_size) comes from the connection budget, and
//   statement, lock and idle-in-transaction timeouts are server parameters (main.bicep says why).
// - TLS is required; backups are kept `backupRetentionDays`, optionally geo-redundant.
// - Network: public endpoint guarded by firewall rules chosen by parameters.

param name string
param location string
param tags object = {}
param tenantId string = subscription().tenantId

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string = 'GeneralPurpose'
param skuName string = 'Standard_D2ds_v5'

@minValue(32)
param storageSizeGB int = 32

@minValue(7)
@maxValue(35)
param backupRetentionDays int = 7
param geoRedundantBackup bool = false

@description('Keep password authentication on (an administratorLogin/password must then be given). Off by default.')
param passwordAuthEnabled bool = false
param administratorLogin string = ''
@secure()
param administratorLoginPassword string = ''

param databaseName string = 'trackly'

@description('Allow connections from Azure services (Flex Consumption without a virtual network has no fixed outbound IPs).')
param allowAzureServices bool = true

@description('Extra client IP ranges allowed through the firewall, e.g. [{ name: \'office\', start: \'203.0.113.10\', end: \'203.0.113.10\' }].')
param allowedIpRanges array = []

@description('Entra administrators: [{ objectId, principalName, principalType }] (principalType: User, Group or ServicePrincipal).')
param entraAdministrators array

@minValue(1)
@maxValue(4950)
@description('PgBouncer server connections per (user, database) pool; main.bicep gives it the connection budget.')
param pgBouncerPoolSize int = 50

// Server-wide session defaults (milliseconds): every session starts with them, PgBouncer's server
// connections included, whatever the role settings are. A session may still SET its own
// (migrations, admin sessions); 0 would mean no limit.
@minValue(0)
param statementTimeoutMs int = 60000
@minValue(0)
param lockTimeoutMs int = 5000
@minValue(0)
param idleInTransactionTimeoutMs int = 60000

var pgBouncerEnabled = skuTier != 'Burstable'

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: '16'
    createMode: 'Default'
    administratorLogin: passwordAuthEnabled ? administratorLogin : null
    administratorLoginPassword: passwordAuthEnabled ? administratorLoginPassword : null
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: passwordAuthEnabled ? 'Enabled' : 'Disabled'
      tenantId: tenantId
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup ? 'Enabled' : 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

// Server parameters are applied one after the other: concurrent updates of one server conflict.
resource requireSecureTransport 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
}

resource minTlsVersion 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'ssl_min_protocol_version'
  properties: {
    value: 'TLSv1.2'
    source: 'user-override'
  }
  dependsOn: [
    requireSecureTransport
  ]
}

resource logConnections 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'log_connections'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    minTlsVersion
  ]
}

resource logDisconnections 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'log_disconnections'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    logConnections
  ]
}

resource connectionThrottling 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'connection_throttle.enable'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    logDisconnections
  ]
}

resource pgBouncer 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = if (pgBouncerEnabled) {
  parent: server
  name: 'pgbouncer.enabled'
  properties: {
    value: 'true'
    source: 'user-override'
  }
  dependsOn: [
    connectionThrottling
  ]
}

resource pgBouncerPool 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = if (pgBouncerEnabled) {
  parent: server
  name: 'pgbouncer.default_pool_size'
  properties: {
    value: string(pgBouncerPoolSize)
    source: 'user-override'
  }
  dependsOn: [
    pgBouncer
  ]
}

resource statementTimeout 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'statement_timeout'
  properties: {
    value: string(statementTimeoutMs)
    source: 'user-override'
  }
  dependsOn: [
    connectionThrottling
    pgBouncerPool
  ]
}

resource lockTimeout 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'lock_timeout'
  properties: {
    value: string(lockTimeoutMs)
    source: 'user-override'
  }
  dependsOn: [
    statementTimeout
  ]
}

resource idleInTransactionTimeout 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'idle_in_transaction_session_timeout'
  properties: {
    value: string(idleInTransactionTimeoutMs)
    source: 'user-override'
  }
  dependsOn: [
    lockTimeout
  ]
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    idleInTransactionTimeout
  ]
}

// Firewall rules wait for every server parameter and the database: run in parallel with the
// configuration updates they fail with ServerIsBusy (bicep-registry-modules #4451, #4289).
resource allowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (allowAzureServices) {
  parent: server
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
  dependsOn: [
    database
  ]
}

@batchSize(1)
resource clientRules 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = [for rule in allowedIpRanges: {
  parent: server
  name: rule.name
  properties: {
    startIpAddress: rule.start
    endIpAddress: rule.end
  }
  dependsOn: [
    database
    allowAzure
  ]
}]

// Entra administrators are added last, one at a time, after the parameters and the firewall rules
// (the server restarts for some parameters and refuses concurrent changes meanwhile).
@batchSize(1)
resource administrators 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = [for admin in entraAdministrators: {
  parent: server
  name: admin.objectId
  properties: {
    principalName: admin.principalName
    principalType: admin.principalType
    tenantId: tenantId
  }
  dependsOn: [
    database
    allowAzure
    clientRules
  ]
}]

output id string = server.id
output name string = server.name
output host string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
output pgBouncerEnabled bool = pgBouncerEnabled
output port int = pgBouncerEnabled ? 6432 : 5432
output pgBouncerPoolSize int = pgBouncerEnabled ? pgBouncerPoolSize : 0
