package configs

// LinkBase is the base URL of t's links: its own links.base_url, or
// links.base_url when it has none. Its personal links are
// <LinkBase>/c/<token> and its generic link <LinkBase>/t/<id>.
func (c *Config) LinkBase(t *Tenant) string {
	if t != nil && t.Links.BaseURL != "" {
		return t.Links.BaseURL
	}
	return c.Links.BaseURL
}
