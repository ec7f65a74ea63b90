// Alert rules and the action group that mails the operator. What each alert means and the first
// three things to look at: docs/operations.md ("Alerts"). Thresholds are parameters of main.bicep.
//
// Log alerts query the Application Insights component (requests: the Functions host's record of
// every invocation; customMetrics: the app's OpenTelemetry metrics, docs/observability.md); the
// platform alerts use the PostgreSQL and Storage metrics Azure records anyway.

param namePrefix string
param tags object = {}
@description('Operator e-mail for the action group; empty = the group exists with no receiver (add one in the portal).')
param alertEmail string = ''
param applicationInsightsId string
param location string
param postgresServerId string
param storageAccountIds array

@description('Share of HTTP invocations answering 5xx, in percent, over 15 minutes (with at least 20 requests).')
param serverErrorPercent int = 5
@description('95th percentile HTTP duration in milliseconds over 15 minutes (with at least 20 requests).')
param latencyP95Ms int = 1500
@description('Oldest unpublished event, in seconds (the outbox timer runs every minute).')
param outboxLagSeconds int = 300
param postgresCpuPercent int = 80
@description('Active PostgreSQL connections that warn of the connection budget running out.')
param postgresConnectionsThreshold int
@description('Storage availability below this percentage.')
param storageAvailabilityPercent int = 99
@description('Each timer and how long it may go without a successful run, in minutes, e.g. {"publish_outbox": 5}.')
param timerMaxSilenceMinutes object = {
  publish_outbox: 5
  cleanup_attachments: 35
  aggregate_daily_stats: 65
  deliver_webhooks: 5
  send_notifications: 5
  run_exports: 5
  run_imports: 5
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-operators'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'trackly-ops'
    enabled: true
    emailReceivers: empty(alertEmail) ? [] : [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var timerRowList = [for t in items(timerMaxSilenceMinutes): '"${t.key}", ${t.value}m']
var timerRows = join(timerRowList, ', ')

// name -> (description, severity, query, measure column, operator, threshold, frequency, window)
var logAlerts = [
  {
    name: 'http-5xx-rate'
    description: 'More than ${serverErrorPercent}% of HTTP invocations answered 5xx in 15 minutes.'
    severity: 1
    query: 'requests | where isnotempty(url) | summarize total = count(), failed = countif(toint(resultCode) >= 500) | where total >= 20 | extend rate = 100.0 * failed / total | project rate'
    measure: 'rate'
    operator: 'GreaterThan'
    threshold: serverErrorPercent
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    name: 'http-p95-latency'
    description: 'The 95th percentile of HTTP invocation time exceeded ${latencyP95Ms} ms over 15 minutes.'
    severity: 2
    query: 'requests | where isnotempty(url) | summarize p95 = percentile(duration, 95), total = count() | where total >= 20 | project p95'
    measure: 'p95'
    operator: 'GreaterThan'
    threshold: latencyP95Ms
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    name: 'timer-failed'
    description: 'A timer function run failed in the last 15 minutes.'
    severity: 2
    query: 'requests | where isempty(url) and success == false | summarize failures = count()'
    measure: 'failures'
    operator: 'GreaterThan'
    threshold: 0
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    name: 'timer-missed'
    description: 'A timer function has had no successful run for longer than its schedule allows.'
    severity: 2
    query: 'datatable(name: string, allowed: timespan) [${timerRows}] | join kind=leftouter (requests | where success == true | summarize last = max(timestamp) by name = operation_Name) on name | where isnull(last) or last < ago(allowed) | summarize missed = count()'
    measure: 'missed'
    operator: 'GreaterThan'
    threshold: 0
    frequency: 'PT15M'
    window: 'PT2H'
  }
  {
    name: 'outbox-lag'
    description: 'The oldest event not yet published to Web PubSub is older than ${outboxLagSeconds} s.'
    severity: 2
    query: 'customMetrics | where name == "trackly.queue.oldest_age" and tostring(customDimensions.channel) == "realtime" | summarize lag = max(value)'
    measure: 'lag'
    operator: 'GreaterThan'
    threshold: outboxLagSeconds
    frequency: 'PT5M'
    window: 'PT15M'
  }
]

resource logAlertRules 'Microsoft.Insights/scheduledQueryRules@2022-06-15' = [for alert in logAlerts: {
  name: '${namePrefix}-${alert.name}'
  location: location
  tags: tags
  properties: {
    displayName: 'Trackly: ${alert.name}'
    description: alert.description
    severity: alert.severity
    enabled: true
    evaluationFrequency: alert.frequency
    windowSize: alert.window
    scopes: [
      applicationInsightsId
    ]
    criteria: {
      allOf: [
        {
          query: alert.query
          timeAggregation: 'Maximum'
          metricMeasureColumn: alert.measure
          operator: alert.operator
          threshold: alert.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

var platformAlerts = [
  {
    name: 'postgres-cpu'
    description: 'PostgreSQL CPU above ${postgresCpuPercent}% for 15 minutes.'
    scope: postgresServerId
    namespace: 'Microsoft.DBforPostgreSQL/flexibleServers'
    metric: 'cpu_percent'
    aggregation: 'Average'
    operator: 'GreaterThan'
    threshold: postgresCpuPercent
  }
  {
    name: 'postgres-connections'
    description: 'More than ${postgresConnectionsThreshold} active PostgreSQL connections: the connection budget is nearly spent.'
    scope: postgresServerId
    namespace: 'Microsoft.DBforPostgreSQL/flexibleServers'
    metric: 'active_connections'
    aggregation: 'Maximum'
    operator: 'GreaterThan'
    threshold: postgresConnectionsThreshold
  }
]

var storageAlerts = [for (id, i) in storageAccountIds: {
  name: 'storage-availability-${i}'
  description: 'Blob Storage availability below ${storageAvailabilityPercent}% (${last(split(id, '/'))}).'
  scope: id
  namespace: 'Microsoft.Storage/storageAccounts'
  metric: 'Availability'
  aggregation: 'Average'
  operator: 'LessThan'
  threshold: storageAvailabilityPercent
}]

resource metricAlertRules 'Microsoft.Insights/metricAlerts@2018-03-01' = [for alert in concat(platformAlerts, storageAlerts): {
  name: '${namePrefix}-${alert.name}'
  location: 'global'
  tags: tags
  properties: {
    description: alert.description
    severity: 2
    enabled: true
    scopes: [
      alert.scope
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          name: alert.metric
          criterionType: 'StaticThresholdCriterion'
          metricNamespace: alert.namespace
          metricName: alert.metric
          timeAggregation: alert.aggregation
          operator: alert.operator
          threshold: alert.threshold
        }
      ]
    }
    autoMitigate: true
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}]

output actionGroupId string = actionGroup.id
output logAlertNames array = [for (alert, i) in logAlerts: logAlertRules[i].name]
output metricAlertNames array = [for (alert, i) in concat(platformAlerts, storageAlerts): metricAlertRules[i].name]
