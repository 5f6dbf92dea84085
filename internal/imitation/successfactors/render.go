package successfactors

import (
	"fmt"
	"time"
)

// Dialect is the wire shape of an API: SuccessFactors OData v2, OData v4, or a plain JSON array.
type Dialect int

const (
	// ODataV2 is SuccessFactors: {"d":{"results":[...],"__next":"..."}}, /Date(ms)/ dates, __metadata,
	// collection navigation properties as {"results":[...]}, unexpanded ones as {"__deferred":{"uri":...}}.
	ODataV2 Dialect = iota
	// ODataV4 is {"value":[...],"@odata.nextLink":"..."} with yyyy-MM-dd dates and navigation collections as
	// arrays; unexpanded navigation properties are absent.
	ODataV4
	// Plain is a root JSON array of flat people, dates as Unix milliseconds, no paging.
	Plain
)

// navigation properties by entity; each is a collection unless single says otherwise.
var navs = map[string]map[string]bool{ // entity -> nav -> single
	"PerPerson":                {"employmentNav": false, "personalInfoNav": false, "personEmpTerminationInfoNav": true, "phoneNav": false, "emailNav": false},
	"EmpEmployment":            {"userNav": true, "jobInfoNav": false},
	"EmpJob":                   {"companyNav": true, "divisionNav": true, "departmentNav": true},
	"FOCompany":                {"countryOfRegistrationNav": true},
	"User":                     {},
	"PerPersonal":              {},
	"PerPhone":                 {},
	"PerEmail":                 {},
	"PersonEmpTerminationInfo": {},
	"FODivision":               {},
	"FODepartment":             {},
	"Country":                  {},
}

// navTarget is the entity type a navigation property leads to.
var navTarget = map[string]string{
	"employmentNav": "EmpEmployment", "personalInfoNav": "PerPersonal", "personEmpTerminationInfoNav": "PersonEmpTerminationInfo",
	"phoneNav": "PerPhone", "emailNav": "PerEmail", "userNav": "User", "jobInfoNav": "EmpJob", "companyNav": "FOCompany",
	"divisionNav": "FODivision", "departmentNav": "FODepartment", "countryOfRegistrationNav": "Country",
}

// entity is an OData entity before dialect rendering: its type, key predicate, plain properties (dates as
// time.Time, absent values as nil) and navigation targets.
type entity struct {
	typ   string
	key   string
	props map[string]any
	order []string // property order for stable output
	nav   map[string][]*entity
}

func newEntity(typ, key string) *entity {
	return &entity{typ: typ, key: key, props: map[string]any{}, nav: map[string][]*entity{}}
}

func (e *entity) set(kv ...any) *entity {
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if _, ok := e.props[k]; !ok {
			e.order = append(e.order, k)
		}
		e.props[k] = kv[i+1]
	}
	return e
}

func optDate(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// farFuture is SuccessFactors' open end date (9999-12-31) on effective-dated entities.
var farFuture = date(9999, 12, 31)

// model builds the full entity graph of a person.
func model(p *Person, today time.Time) *entity {
	e := newEntity("PerPerson", fmt.Sprintf("'%s'", p.PersonIDExternal)).set(
		"personIdExternal", p.PersonIDExternal, "personId", p.PersonIDExternal[len(p.PersonIDExternal)-min(3, len(p.PersonIDExternal)):],
		"dateOfBirth", optDate(p.DateOfBirth), "lastModifiedDateTime", offset(p.LastModified), "createdDateTime", offset(p.LastModified))
	start := time.Time{}
	for _, em := range p.Employments {
		if start.IsZero() || em.StartDate.Before(start) {
			start = em.StartDate
		}
	}
	e.nav["personalInfoNav"] = []*entity{newEntity("PerPersonal", fmt.Sprintf("personIdExternal='%s',startDate=datetime'%s'", p.PersonIDExternal, start.Format("2006-01-02T15:04:05"))).set(
		"personIdExternal", p.PersonIDExternal, "startDate", start, "endDate", farFuture,
		"firstName", p.FirstName, "lastName", p.LastName, "preferredName", p.FirstName, "formalName", p.FirstName+" "+p.LastName)}
	if p.Phone != "" {
		e.nav["phoneNav"] = []*entity{newEntity("PerPhone", fmt.Sprintf("personIdExternal='%s',phoneType='18258'", p.PersonIDExternal)).set(
			"personIdExternal", p.PersonIDExternal, "phoneType", "18258", "phoneNumber", p.Phone, "isPrimary", true)}
	} else {
		e.nav["phoneNav"] = nil
	}
	if p.Email != "" {
		e.nav["emailNav"] = []*entity{newEntity("PerEmail", fmt.Sprintf("personIdExternal='%s',emailType='8448'", p.PersonIDExternal)).set(
			"personIdExternal", p.PersonIDExternal, "emailType", "8448", "emailAddress", p.Email, "isPrimary", true)}
	} else {
		e.nav["emailNav"] = nil
	}
	active, latestEnd := 0, time.Time{}
	var emps []*entity
	for _, em := range p.Employments {
		if em.EndDate.IsZero() || !em.EndDate.Before(today) {
			active++
		}
		if !em.EndDate.IsZero() && em.EndDate.After(latestEnd) {
			latestEnd = em.EndDate
		}
		ee := newEntity("EmpEmployment", fmt.Sprintf("personIdExternal='%s',userId='%s'", p.PersonIDExternal, em.UserID)).set(
			"personIdExternal", p.PersonIDExternal, "userId", em.UserID, "startDate", em.StartDate, "endDate", optDate(em.EndDate),
			"isPrimary", em.IsPrimary, "originalStartDate", em.StartDate, "lastModifiedDateTime", offset(p.LastModified))
		ee.nav["userNav"] = []*entity{newEntity("User", fmt.Sprintf("'%s'", em.UserID)).set(
			"userId", em.UserID, "username", em.UserName, "email", p.Email, "firstName", p.FirstName, "lastName", p.LastName,
			"title", em.JobTitle, "department", em.Department, "division", em.Division, "city", em.City, "state", em.State,
			"zipCode", em.ZipCode, "country", em.Country, "addressLine1", em.AddressLine1, "status", "t")}
		job := newEntity("EmpJob", fmt.Sprintf("seqNumber=1L,startDate=datetime'%s',userId='%s'", em.StartDate.Format("2006-01-02T15:04:05"), em.UserID)).set(
			"userId", em.UserID, "seqNumber", "1", "startDate", em.StartDate, "endDate", farFuture, "jobTitle", em.JobTitle,
			"managerId", nullable(em.ManagerID), "department", em.Department, "division", em.Division, "company", em.Company,
			"emplStatus", "3677")
		co := newEntity("FOCompany", fmt.Sprintf("externalCode='%s',startDate=datetime'1900-01-01T00:00:00'", em.Company)).set(
			"externalCode", em.Company, "name", em.Company, "country", em.Country)
		co.nav["countryOfRegistrationNav"] = []*entity{newEntity("Country", fmt.Sprintf("code='%s',effectiveStartDate=datetime'1900-01-01T00:00:00'", em.Country)).set(
			"code", em.Country, "territoryName", countryName(em.Country))}
		job.nav["companyNav"] = []*entity{co}
		job.nav["divisionNav"] = []*entity{newEntity("FODivision", fmt.Sprintf("externalCode='%s'", em.Division)).set("externalCode", em.Division, "name", em.Division)}
		job.nav["departmentNav"] = []*entity{newEntity("FODepartment", fmt.Sprintf("externalCode='%s'", em.Department)).set("externalCode", em.Department, "name", em.Department)}
		ee.nav["jobInfoNav"] = []*entity{job}
		emps = append(emps, ee)
	}
	e.nav["employmentNav"] = emps
	term := newEntity("PersonEmpTerminationInfo", fmt.Sprintf("'%s'", p.PersonIDExternal)).set(
		"personIdExternal", p.PersonIDExternal, "activeEmploymentsCount", active, "latestTerminationDate", optDate(latestEnd))
	e.nav["personEmpTerminationInfoNav"] = []*entity{term}
	return e
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func countryName(code string) string {
	switch code {
	case "NOR":
		return "Norway"
	case "SWE":
		return "Sweden"
	}
	return code
}

// render turns an entity into its dialect's JSON value, keeping only the expanded navigation properties and the
// selected properties (an empty selection keeps all).
func render(e *entity, d Dialect, base string, exp, sel *tree) map[string]any {
	out := make(map[string]any, len(e.props)+4)
	if d == ODataV2 {
		out["__metadata"] = map[string]any{"uri": fmt.Sprintf("%s/%s(%s)", base, e.typ, e.key), "type": "SFOData." + e.typ}
	}
	for _, k := range e.order {
		if !sel.selects(k) {
			continue
		}
		out[k] = renderValue(e.props[k], d)
	}
	for name, single := range navs[e.typ] {
		if !sel.selects(name) {
			continue
		}
		child := exp.child(name)
		if child == nil {
			if d == ODataV2 {
				out[name] = map[string]any{"__deferred": map[string]any{"uri": fmt.Sprintf("%s/%s(%s)/%s", base, e.typ, e.key, name)}}
			}
			continue
		}
		targets := e.nav[name]
		if single {
			if len(targets) == 0 {
				out[name] = nil
			} else {
				out[name] = render(targets[0], d, base, child, sel.child(name))
			}
			continue
		}
		list := make([]any, 0, len(targets))
		for _, t := range targets {
			list = append(list, render(t, d, base, child, sel.child(name)))
		}
		if d == ODataV2 {
			out[name] = map[string]any{"results": list}
		} else {
			out[name] = list
		}
	}
	return out
}

// offset is an Edm.DateTimeOffset value; OData v2 writes it as /Date(ms+0000)/.
type offset time.Time

func renderValue(v any, d Dialect) any {
	if o, ok := v.(offset); ok {
		if d == ODataV2 {
			return fmt.Sprintf("/Date(%d+0000)/", time.Time(o).UnixMilli())
		}
		v = time.Time(o)
	}
	t, ok := v.(time.Time)
	if !ok {
		return v
	}
	switch d {
	case ODataV2:
		return fmt.Sprintf("/Date(%d)/", t.UnixMilli())
	case ODataV4:
		if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
			return t.Format("2006-01-02")
		}
		return t.UTC().Format(time.RFC3339Nano)
	default:
		return t.UnixMilli()
	}
}

// plain is the flat person of the Plain dialect (a non-OData HR system): current employment only.
func plain(p *Person, today time.Time) map[string]any {
	out := map[string]any{"id": p.PersonIDExternal, "firstName": p.FirstName, "lastName": p.LastName, "email": p.Email,
		"phone": p.Phone, "lastModified": p.LastModified.UnixMilli()}
	if i := current(p, today); i >= 0 {
		em := p.Employments[i]
		out["userId"] = em.UserID
		out["title"] = em.JobTitle
		out["manager"] = nullable(em.ManagerID)
		out["department"] = em.Department
		out["startDate"] = em.StartDate.UnixMilli()
		if em.EndDate.IsZero() {
			out["endDate"] = nil
		} else {
			out["endDate"] = em.EndDate.UnixMilli()
		}
	}
	return out
}
