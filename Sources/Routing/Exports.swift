// The router's conventions (node and edge types, documents, limits, the query-text rule)
// are part of its API: every user of Routing sees them.
@_exported import RoutingSchema
