package config

// TenantSkeleton is a new tenant of the section kind (KindEntra or KindHR) with placeholders, as bootstrap writes
// it for a tenant the configuration does not have yet.
func TenantSkeleton(kind string) map[string]any {
	if kind == KindHR {
		return hrSkeleton()
	}
	return entraSkeleton()
}

// entraSkeleton is a new Entra tenant with the documentation's placeholders; it loads, and the collector reports
// the placeholders until they are replaced.
func entraSkeleton() map[string]any {
	return map[string]any{
		"auth": map[string]any{"oauth": map[string]any{"clients": []map[string]any{
			{"client_id": "<client-id>", "client_secret": "<client-secret>"}}}},
		"general": map[string]any{"collect_interval": 5, "do_initial_load": false,
			"entra": map[string]any{"include_guest_users": false, "tenant_id": "<tenant-id>"}},
		"streams": []map[string]any{{"channel": "APP1",
			"comment": "Includes all roles for Enterprise Application App1 (replace with your channels and rules)",
			"rules":   []map[string]any{{"filter": `(user.roles.<App1-EnterpriseAppObjectID>.value -match ".*")`}}}},
		"dynamics": nil,
		"mapper":   nil,
	}
}

// hrSkeleton is a new HR tenant with placeholders.
func hrSkeleton() map[string]any {
	return map[string]any{
		"auth": map[string]any{"base_urls": []string{"https://hr-api.example.com"},
			"basic": map[string]any{"username": "<username>", "password": "<password>"}},
		"general": map[string]any{"collect_interval": "15 1 * * 1-5", "do_initial_load": false,
			"hr": map[string]any{"collect_query_string": "<collect-query-string>"}},
		"streams": []map[string]any{{"channel": "SF", "comment": "All included (replace with your channels and rules)",
			"rules": []map[string]any{{"filter": "(.*)"}}}},
		"dynamics": nil,
		// The least an hr mapper needs; the source attribute names are examples to adapt.
		"mapper": map[string]any{"user": []map[string]any{
			{"id": map[string]any{"map_to": "userName"}},
			{"startDate": map[string]any{"map_to": "startDate"}},
			{"endDate": map[string]any{"map_to": "endDate"}},
		}},
	}
}
