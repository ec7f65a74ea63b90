// The operator's first page: one Azure Monitor workbook with the charts docs/operations.md refers
// to (requests by status class, p95 by function, slowest dependencies, outbox lag, timer runs,
// PostgreSQL CPU and connections).

param name string
param location string
param tags object = {}
param applicationInsightsId string
param postgresServerId string

var queries = [
  {
    title: 'HTTP invocations by status class'
    query: 'requests | where isnotempty(url) | summarize count() by bin(timestamp, 5m), status = strcat(substring(resultCode, 0, 1), "xx") | render timechart'
  }
  {
    title: 'p95 duration by function (ms)'
    query: 'requests | where isnotempty(url) | summarize p95 = percentile(duration, 95) by bin(timestamp, 5m), operation_Name | render timechart'
  }
  {
    title: 'Slowest dependencies (SQL, Blob, Web PubSub, sends)'
    query: 'dependencies | summarize calls = count(), p95_ms = percentile(duration, 95), failed = countif(success == false) by type, name | top 20 by p95_ms desc'
  }
  {
    title: 'Outbox lag (oldest unpublished event, s)'
    query: 'customMetrics | where name == "trackly.queue.oldest_age" | summarize lag = max(value) by bin(timestamp, 5m), channel = tostring(customDimensions.channel) | render timechart'
  }
  {
    title: 'Timer runs by outcome'
    query: 'requests | where isempty(url) | summarize runs = count() by bin(timestamp, 15m), operation_Name, outcome = iff(success, "success", "failure") | render columnchart'
  }
  {
    title: 'Database pool: connections lent out per instance'
    query: 'customMetrics | where name == "trackly.db.pool.checked_out" | summarize max(value) by bin(timestamp, 5m), cloud_RoleInstance | render timechart'
  }
]

var queryItems = [for q in queries: {
  type: 3
  content: {
    version: 'KqlItem/1.0'
    title: q.title
    query: q.query
    size: 0
    queryType: 0
    resourceType: 'microsoft.insights/components'
    timeContext: {
      durationMs: 86400000
    }
  }
}]

var postgresItem = {
  type: 10
  content: {
    version: 'MetricsItem/2.0'
    title: 'PostgreSQL CPU (%) and active connections'
    size: 0
    chartType: 2
    resourceType: 'microsoft.dbforpostgresql/flexibleservers'
    resourceIds: [
      postgresServerId
    ]
    timeContext: {
      durationMs: 86400000
    }
    metrics: [
      {
        namespace: 'microsoft.dbforpostgresql/flexibleservers'
        metric: 'microsoft.dbforpostgresql/flexibleservers--cpu_percent'
        aggregation: 4
      }
      {
        namespace: 'microsoft.dbforpostgresql/flexibleservers'
        metric: 'microsoft.dbforpostgresql/flexibleservers--active_connections'
        aggregation: 3
      }
    ]
  }
}

var headerItems = [
  {
    type: 1
    content: {
      json: '# Trackly operations\nWhat each chart means and what to do: docs/operations.md in the repository.'
    }
  }
]
var postgresItems = [
  postgresItem
]

var content = {
  version: 'Notebook/1.0'
  items: concat(headerItems, queryItems, postgresItems)
  isLocked: false
  fallbackResourceIds: [
    applicationInsightsId
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, name)
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: name
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: string(content)
  }
}

output id string = workbook.id
