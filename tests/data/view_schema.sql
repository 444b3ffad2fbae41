-- organisations.main
CREATE TABLE view_organisations (
	id VARCHAR(36) NOT NULL, 
	position BIGINT NOT NULL, 
	name TEXT NOT NULL, 
	type VARCHAR(40) NOT NULL, 
	country VARCHAR(2) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	doc TEXT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_view_organisations_position ON view_organisations (position);
-- initiatives.amendments
CREATE TABLE view_initiative_amendments (
	ref VARCHAR(36) NOT NULL, 
	amendment_id VARCHAR(36) NOT NULL, 
	author_id VARCHAR(36) NOT NULL, 
	proposed_at TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE INDEX ix_view_initiative_amendments_key ON view_initiative_amendments (amendment_id, ref);
CREATE INDEX ix_view_initiative_amendments_ref ON view_initiative_amendments (ref);
-- initiatives.approvers
CREATE TABLE view_initiative_approvers (
	ref VARCHAR(36) NOT NULL, 
	account_id VARCHAR(36) NOT NULL
);
CREATE INDEX ix_view_initiative_approvers_key ON view_initiative_approvers (account_id, ref);
CREATE INDEX ix_view_initiative_approvers_ref ON view_initiative_approvers (ref);
-- initiatives.countries
CREATE TABLE view_initiative_countries (
	ref VARCHAR(36) NOT NULL, 
	country VARCHAR(2) NOT NULL
);
CREATE INDEX ix_view_initiative_countries_key ON view_initiative_countries (country, ref);
CREATE INDEX ix_view_initiative_countries_ref ON view_initiative_countries (ref);
-- initiatives.main
CREATE TABLE view_initiatives (
	id VARCHAR(36) NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	level VARCHAR(20) NOT NULL, 
	lead_organisation_id VARCHAR(36) NOT NULL, 
	version INTEGER NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	updated_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	waiting_since TIMESTAMP WITH TIME ZONE NOT NULL, 
	approved_at TIMESTAMP WITH TIME ZONE, 
	submitted_at TIMESTAMP WITH TIME ZONE, 
	good_practice BOOLEAN NOT NULL, 
	participants BIGINT NOT NULL, 
	title_sort VARCHAR(200) NOT NULL, 
	search TEXT NOT NULL, 
	doc TEXT NOT NULL, 
	card TEXT, 
	visibility VARCHAR(10), 
	PRIMARY KEY (id)
);
CREATE INDEX ix_view_initiatives_created ON view_initiatives (created_at, id);
CREATE INDEX ix_view_initiatives_lead ON view_initiatives (lead_organisation_id);
CREATE INDEX ix_view_initiatives_state ON view_initiatives (state, updated_at, id);
CREATE INDEX ix_view_initiatives_title ON view_initiatives (title_sort, id);
CREATE INDEX ix_view_initiatives_updated ON view_initiatives (updated_at, id);
CREATE INDEX ix_view_initiatives_waiting ON view_initiatives (state, waiting_since, id);
-- initiatives.organisations
CREATE TABLE view_initiative_organisations (
	ref VARCHAR(36) NOT NULL, 
	organisation_id VARCHAR(36) NOT NULL, 
	relation VARCHAR(10) NOT NULL, 
	since TIMESTAMP WITH TIME ZONE NOT NULL
);
CREATE INDEX ix_view_initiative_organisations_key ON view_initiative_organisations (organisation_id, ref);
CREATE INDEX ix_view_initiative_organisations_ref ON view_initiative_organisations (ref);
-- initiatives.themes
CREATE TABLE view_initiative_themes (
	ref VARCHAR(36) NOT NULL, 
	theme VARCHAR(40) NOT NULL
);
CREATE INDEX ix_view_initiative_themes_key ON view_initiative_themes (theme, ref);
CREATE INDEX ix_view_initiative_themes_ref ON view_initiative_themes (ref);
-- activities.main
CREATE TABLE view_activities (
	id VARCHAR(36) NOT NULL, 
	kind VARCHAR(40) NOT NULL, 
	state VARCHAR(20) NOT NULL, 
	country VARCHAR(2) NOT NULL, 
	initiative_id VARCHAR(36), 
	version INTEGER NOT NULL, 
	starts_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	ends_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	doc TEXT NOT NULL, 
	card TEXT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_view_activities_country ON view_activities (country, starts_at, id);
CREATE INDEX ix_view_activities_initiative ON view_activities (initiative_id);
CREATE INDEX ix_view_activities_kind ON view_activities (kind, starts_at, id);
CREATE INDEX ix_view_activities_starts ON view_activities (starts_at, id);
-- activities.themes
CREATE TABLE view_activity_themes (
	ref VARCHAR(36) NOT NULL, 
	theme VARCHAR(40) NOT NULL
);
CREATE INDEX ix_view_activity_themes_key ON view_activity_themes (theme, ref);
CREATE INDEX ix_view_activity_themes_ref ON view_activity_themes (ref);
-- audit.aggregates
CREATE TABLE audit_aggregates (
	id VARCHAR(36) NOT NULL, 
	topic TEXT NOT NULL, 
	version INTEGER NOT NULL, 
	state BYTEA NOT NULL, 
	PRIMARY KEY (id)
);
-- audit.entries
CREATE TABLE audit_entries (
	position BIGINT NOT NULL, 
	aggregate_type VARCHAR(40) NOT NULL, 
	aggregate_id VARCHAR(36) NOT NULL, 
	initiative_id VARCHAR(36), 
	version INTEGER NOT NULL, 
	type VARCHAR(80) NOT NULL, 
	at TIMESTAMP WITH TIME ZONE NOT NULL, 
	actor_account_id VARCHAR(36), 
	actor_organisation_id VARCHAR(36), 
	actor_role VARCHAR(20), 
	request_id VARCHAR(64), 
	changes TEXT NOT NULL, 
	rationale TEXT, 
	link_hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (position)
);
CREATE INDEX ix_audit_entries_actor ON audit_entries (actor_account_id, position);
CREATE INDEX ix_audit_entries_aggregate ON audit_entries (aggregate_id, position);
CREATE INDEX ix_audit_entries_at ON audit_entries (at, position);
CREATE INDEX ix_audit_entries_organisation ON audit_entries (actor_organisation_id, position);
CREATE INDEX ix_audit_entries_type ON audit_entries (type, position);
