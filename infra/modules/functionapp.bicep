// The Function App on a Flex Consumption (FC1) plan, Linux, Python 3.11.
// - Runs as the user-assigned identity: identity-based AzureWebJobsStorage, the deployment
//   container, Key Vault references, Web PubSub, PostgreSQL (Entra token) and App Insights.
// - Every setting in trackly.config.Settings is set here (tests/test_infra_settings.py checks it);
//   secrets are Key Vault references, connection strings and keys are empty on purpose.
// - HTTPS only, TLS 1.2+, FTP off, basic (publishing-profile) credentials off, CORS for the frontend.

param name string
param planName string
param location string
param tags object = {}

@description('Resource id, client id and name of the user-assigned identity the app runs as.')
param identityId string
param identityClientId string
param identityName string

@description('Host storage blob endpoint (AzureWebJobsStorage and the deployment package container).')
param hostStorageBlobEndpoint string
param deploymentContainerName string

param applicationInsightsConnectionString string

@description('Versionless Key Vault secret URIs (empty = that secret is not configured).')
param jwtSecretUri string
param webhookKeySecretUri string
param microsoftClientSecretUri string = ''
param googleClientSecretUri string = ''

param attachmentsStorageName string
param attachmentsBlobEndpoint string
param attachmentsContainerName string = 'issue-files'

param webPubSubEndpoint string
param webPubSubHub string = 'trackly'

@description('Azure Communication Services endpoint and sender address for email notifications.')
param acsEmailEndpoint string = ''
param emailFrom string = ''

param postgresHost string
param postgresPort int = 6432
param postgresDatabase string = 'trackly'

@minValue(1)
@maxValue(50)
@description('SQLAlchemy pool size per worker process (main.bicep: the per-instance HTTP concurrency).')
param databasePoolSize int = 8

// Flex Consumption's lowest allowed maximum instance count is 1, its highest 1000 (Event-driven
// scaling, "Limit scale-out", Flex Consumption, revision 08/03/2026; older revisions said 40).
@minValue(1)
@maxValue(1000)
@description('Flex Consumption scale-out limit; main.bicep derives it from the database connection budget.')
param maximumInstanceCount int

// Flex Consumption's default HTTP concurrency for Python is 1: every concurrent request would
// start another instance (and a cold start). The worker runs sync functions on a thread pool
// (PYTHON_THREADPOOL_THREAD_COUNT), each thread holding at most one pooled connection.
@minValue(1)
@maxValue(50)
@description('Concurrent HTTP invocations per instance; also the worker thread count and DATABASE_POOL_SIZE.')
param httpPerInstanceConcurrency int = 8

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Spread instances over availability zones (only some regions; Flex then keeps at least two always-ready instances, which are billed).')
param zoneRedundant bool = false

param frontendUrl string
@minLength(1)
@description('Every browser origin the API and CORS allow (main.bicep: frontendUrl first, trimmed, none empty).')
param allowedOrigins array

param logLevel string = 'INFO'
param signupEnabled bool = false

param googleClientId string = ''
param microsoftClientId string = ''
param microsoftAuthority string = 'https://login.microsoftonline.com/common'
param ssoAutoProvisionDomains string = ''

var keyVaultReference = '@Microsoft.KeyVault(SecretUri={0})'
// sslmode=require: the driver refuses a plaintext connection. The user is the managed identity's
// name, the role the postprovision hook creates for it (pgaadauth_create_principal_with_oid, an
// ordinary principal, not an administrator); the password is a fresh Entra token injected per
// connection by the app (DATABASE_AUTH=entra).
var databaseUrl = 'postgresql+psycopg2://${identityName}@${postgresHost}:${postgresPort}/${postgresDatabase}?sslmode=require'

// Every app setting, as one object (tests/test_infra_settings.py reads the keys of this block).
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION are not app settings on Flex
// Consumption: the runtime comes from functionAppConfig.runtime.
var appSettings = {
  // --- Functions host ---
  // The blob endpoint, not __accountName: the identity has blob roles only (no queue/table),
  // and an account name makes the host build queue and table clients too.
  AzureWebJobsStorage__blobServiceUri: hostStorageBlobEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  AZURE_CLIENT_ID: identityClientId
  // No HTML welcome page at the site root: an API answers problem+json or nothing.
  AzureWebJobsDisableHomepage: 'true'
  // As many worker threads as concurrent invocations (the Python worker reads this setting).
  PYTHON_THREADPOOL_THREAD_COUNT: string(httpPerInstanceConcurrency)
  // The worker attaches the host's trace context to each invocation, so the app's spans are
  // children of the host's request span (docs/observability.md). The worker does not configure
  // the distro itself (that would be PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY, at worker start,
  // i.e. on every cold start): the app does, on the first invocation (TELEMETRY_EXPORTER).
  PYTHON_ENABLE_OPENTELEMETRY: 'true'
  // --- operations (docs/observability.md, docs/operations.md) ---
  TELEMETRY_EXPORTER: 'azure_monitor'
  TELEMETRY_FILE: ''
  // Empty: GET /health/ready answers ADMIN tokens only; set a Key Vault reference for a probe.
  READINESS_KEY: ''
  // --- runtime ---
  TRACKLY_ENV: 'production'
  LOG_LEVEL: logLevel
  MAX_REQUEST_BYTES: '1048576'
  // --- database ---
  DATABASE_URL: databaseUrl
  DATABASE_AUTH: 'entra'
  DATABASE_POOL_SIZE: string(databasePoolSize)
  DATABASE_CONNECT_TIMEOUT_SECONDS: '5'
  DATABASE_STATEMENT_TIMEOUT_MS: '15000'
  DATABASE_LOCK_TIMEOUT_MS: '5000'
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: '60000'
  DATABASE_READ_TIMEOUT_SECONDS: '20'
  DATABASE_KEEPALIVE_SECONDS: '10'
  DATABASE_PING_AFTER_IDLE_SECONDS: '10'
  // --- tokens and sign-in ---
  JWT_SECRET_KEY: format(keyVaultReference, jwtSecretUri)
  JWT_ISSUER: 'trackly'
  JWT_AUDIENCE: 'trackly-api'
  ACCESS_TOKEN_EXPIRE_MINUTES: '30'
  REFRESH_TOKEN_EXPIRE_DAYS: '7'
  REFRESH_TOKEN_ROTATION: 'true'
  REFRESH_TOKEN_REUSE_GRACE_SECONDS: '30'
  LOGIN_MAX_FAILURES: '5'
  LOGIN_FAILURE_WINDOW_MINUTES: '15'
  SIGNUP_ENABLED: signupEnabled ? 'true' : 'false'
  TOKEN_MAX_DAYS: '365'
  RATE_LIMIT_ENABLED: 'true'
  RATE_LIMIT_WINDOW_SECONDS: '3600'
  RATE_LIMIT_PER_USER: '5000'
  RATE_LIMIT_ANONYMOUS: '60'
  RATE_LIMIT_SIGN_IN: '1000'
  RATE_LIMIT_PUBLIC: '3600'
  // --- issues ---
  ISSUE_WORKFLOW: 'free'
  // 'true' once no client without If-Match (the original frontend) is left.
  REQUIRE_IF_MATCH: 'false'
  // --- web front end ---
  FRONTEND_URL: frontendUrl
  // Not CORS_ALLOWED_ORIGINS: the host itself reads and overwrites that name on Flex Consumption.
  TRACKLY_ALLOWED_ORIGINS: join(allowedOrigins, ',')
  // --- single sign-on ---
  GOOGLE_CLIENT_ID: googleClientId
  GOOGLE_CLIENT_SECRET: empty(googleClientSecretUri) ? '' : format(keyVaultReference, googleClientSecretUri)
  GOOGLE_JWKS_URL: 'https://www.googleapis.com/oauth2/v3/certs'
  GOOGLE_ISSUERS: 'https://accounts.google.com,accounts.google.com'
  MICROSOFT_CLIENT_ID: microsoftClientId
  MICROSOFT_CLIENT_SECRET: empty(microsoftClientSecretUri) ? '' : format(keyVaultReference, microsoftClientSecretUri)
  MICROSOFT_AUTHORITY: microsoftAuthority
  MICROSOFT_REDIRECT_URI: 'https://${name}.azurewebsites.net/api/auth/microsoft/callback'
  MICROSOFT_VALIDATE_AUTHORITY: 'true'
  SSO_AUTO_PROVISION_DOMAINS: ssoAutoProvisionDomains
  // --- attachments (identity mode: URL set, connection string and key empty) ---
  AZURE_STORAGE_CONNECTION_STRING: ''
  AZURE_STORAGE_ACCOUNT_NAME: attachmentsStorageName
  AZURE_STORAGE_ACCOUNT_KEY: ''
  AZURE_STORAGE_ACCOUNT_URL: attachmentsBlobEndpoint
  AZURE_STORAGE_CONTAINER_NAME: attachmentsContainerName
  AZURE_STORAGE_TIMEOUT_SECONDS: '5'
  UPLOAD_SAS_MINUTES: '10'
  DOWNLOAD_SAS_MINUTES: '5'
  FILE_LINK_MINUTES: '30'
  MAX_ATTACHMENT_BYTES: '26214400'
  MAX_ATTACHMENTS_PER_ISSUE: '20'
  ALLOWED_CONTENT_TYPES: 'image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,text/csv,application/json,application/zip'
  ATTACHMENT_CLEANUP_SCHEDULE: '0 */15 * * * *'
  // --- live updates (identity mode: endpoint set, connection string empty) ---
  WEBPUBSUB_CONNECTION_STRING: ''
  WEBPUBSUB_ENDPOINT: webPubSubEndpoint
  WEBPUBSUB_HUB: webPubSubHub
  REALTIME_TOKEN_MINUTES: '5'
  EVENT_RETENTION_DAYS: '90'
  OUTBOX_SCHEDULE: '0 * * * * *'
  // --- email notifications (docs/email.md): ACS with the managed identity, no SMTP secret ---
  EMAIL_TRANSPORT: 'auto'
  EMAIL_FROM: emailFrom
  EMAIL_SCHEDULE: '0 * * * * *'
  EMAIL_BATCH_SIZE: '200'
  EMAIL_MAX_AGE_HOURS: '48'
  EMAIL_MAX_ATTEMPTS: '5'
  EMAIL_DEFAULT_TIME_ZONE: 'UTC'
  EMAIL_DEFAULT_DIGEST_HOUR: '8'
  // Empty: derived from JWT_SECRET_KEY (a Key Vault secret) for unsubscribe and reply tokens.
  EMAIL_TOKEN_KEY: ''
  API_PUBLIC_URL: 'https://${name}.azurewebsites.net/api'
  // Replies by email need an inbound mail provider posting to /api/inbound/email: off until set.
  EMAIL_INBOUND_DOMAIN: ''
  EMAIL_INBOUND_SECRET: ''
  SMTP_HOST: ''
  SMTP_PORT: '587'
  SMTP_SECURITY: 'starttls'
  SMTP_USERNAME: ''
  SMTP_PASSWORD: ''
  SMTP_TIMEOUT_SECONDS: '10'
  ACS_EMAIL_ENDPOINT: acsEmailEndpoint
  // --- webhooks (the encryption key is created once by the postprovision hook) ---
  WEBHOOK_SECRET_KEY: format(keyVaultReference, webhookKeySecretUri)
  WEBHOOK_SCHEDULE: '*/10 * * * * *'
  WEBHOOK_TIMEOUT_SECONDS: '5'
  WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false'
  WEBHOOK_REQUIRE_HTTPS: 'true'
  WEBHOOK_DISABLE_AFTER_FAILURES: '5'
  WEBHOOK_DELIVERY_RETENTION_DAYS: '30'
  WEBHOOK_BATCH_SIZE: '100'
  WEBHOOK_CA_BUNDLE: ''
  // --- statistics ---
  STATS_SCHEDULE: '0 */30 * * * *'
  STATS_BACKFILL_MAX_DAYS: '366'
  // --- export and import ---
  EXPORT_MAX_ROWS: '10000'
  EXPORT_CHUNK_ROWS: '2000'
  EXPORT_LINK_MINUTES: '10'
  EXPORT_SCHEDULE: '0 * * * * *'
  IMPORT_MAX_BYTES: '52428800'
  IMPORT_MULTIPART_MAX_BYTES: '4194304'
  IMPORT_MAX_ROWS: '100000'
  IMPORT_CHUNK_ROWS: '500'
  IMPORT_SCHEDULE: '30 * * * * *'
  TRANSFER_RUN_SECONDS: '240'
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      // No ftpsState (nor alwaysOn, linuxFxVersion, use32BitWorkerProcess, ...): a Flex
      // Consumption site refuses them (ARM error 51021); Flex has no FTP endpoint, and the ftp
      // publishing-credentials policy below is off. scripts/check_flex.py (make check) keeps
      // every property of the Flex deprecations list out of this resource.
      http20Enabled: true
      remoteDebuggingEnabled: false
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
      cors: {
        allowedOrigins: allowedOrigins
        supportCredentials: false
      }
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
output uri string = 'https://${site.properties.defaultHostName}'
output maximumInstanceCount int = maximumInstanceCount
output httpPerInstanceConcurrency int = httpPerInstanceConcurrency
