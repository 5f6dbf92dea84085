package graph

import (
	"fmt"
	"strings"
	"time"
)

// Company is a seeded small tenant "mycompany.com": about twenty people with managers, a guest, a service
// account, nested groups and two enterprise applications with roles assigned directly and through groups.
type Company struct {
	*Tenant
	// Admin is an administrator who makes changes; Sync is the Microsoft Entra Connect sync account whose changes
	// the documentation's rule excludes ((?!Sync_.*)).
	Admin, Sync Actor
	// Users maps the mail nickname (e.g. "john.smith") to the object id; Groups the display name to the id.
	Users  map[string]string
	Groups map[string]string
	// App1 is the service principal object id of "Application1" (roles Employees, Admins); HRPortal that of
	// "HR Portal" (roles Reader, Manager).
	App1, HRPortal string
}

type person struct {
	first, last, title, dept, manager string
}

var people = []person{
	{"Alice", "Andersen", "Chief Executive Officer", "Management", ""},
	{"John", "Smith", "Project Manager", "Engineering", "alice.andersen"},
	{"Bjørn", "Ødegård", "Software Engineer", "Engineering", "john.smith"},
	{"Chloé", "Martin", "Software Engineer", "Engineering", "john.smith"},
	{"David", "Kim", "Site Reliability Engineer", "Engineering", "john.smith"},
	{"Eva", "Schmidt", "Consultant", "Engineering", "john.smith"},
	{"Fatima", "Khan", "Sales Manager", "Sales", "alice.andersen"},
	{"George", "Brown", "Account Executive", "Sales", "fatima.khan"},
	{"Hanna", "Berg", "Account Executive", "Sales", "fatima.khan"},
	{"Ivan", "Petrov", "Consultant", "Sales", "fatima.khan"},
	{"Julia", "Rossi", "HR Manager", "Human Resources", "alice.andersen"},
	{"Karl", "Nilsen", "HR Advisor", "Human Resources", "julia.rossi"},
	{"Lena", "Fischer", "Dog Trainer", "Operations", "alice.andersen"},
	{"Mohammed", "Ali", "Dog Trainer", "Operations", "lena.fischer"},
	{"Nora", "Hansen", "Office Manager", "Operations", "lena.fischer"},
	{"Oscar", "Lind", "Finance Manager", "Finance", "alice.andersen"},
	{"Paula", "Silva", "Accountant", "Finance", "oscar.lind"},
	{"Quentin", "Dubois", "Accountant", "Finance", "oscar.lind"},
	{"Rita", "Moreau", "Project Manager", "Operations", "lena.fischer"},
}

// NewCompany returns the seeded tenant. now may be nil (wall clock).
func NewCompany(now func() time.Time) *Company {
	t := NewTenant(StableID("tenant:mycompany"), "mycompany.com", now)
	c := &Company{Tenant: t, Users: map[string]string{}, Groups: map[string]string{}}
	nick := func(p person) string {
		r := strings.NewReplacer("ø", "o", "Ø", "O", "é", "e", "å", "a")
		return strings.ToLower(r.Replace(p.first) + "." + r.Replace(p.last))
	}
	for i, p := range people {
		n := nick(p)
		c.Users[n] = t.AddUser(Actor{}, map[string]any{
			"id": StableID("user:" + n), "userPrincipalName": n + "@mycompany.com", "mail": n + "@mycompany.com",
			"mailNickname": n, "displayName": p.first + " " + p.last, "givenName": p.first, "surname": p.last,
			"jobTitle": p.title, "department": p.dept, "companyName": "My Company", "employeeId": fmt.Sprintf("E%04d", 1001+i),
			"employeeType": "Employee", "employeeHireDate": fmt.Sprintf("20%02d-0%d-01T00:00:00Z", 15+i%10, 1+i%9),
			"businessPhones": []any{fmt.Sprintf("+47 2100 %04d", 1001+i)}, "mobilePhone": fmt.Sprintf("+47 900 %05d", 10001+i),
			"city": "Oslo", "country": "Norway", "postalCode": "0150", "streetAddress": "Dronning Eufemias gate 16",
			"officeLocation": "Oslo HQ", "preferredLanguage": "en-US", "usageLocation": "NO",
			"employeeOrgData": map[string]any{"costCenter": fmt.Sprintf("CC%d", 100+len(p.dept)), "division": p.dept},
		})
	}
	for _, p := range people {
		if p.manager != "" {
			_ = t.SetManager(Actor{}, c.Users[nick(p)], c.Users[p.manager])
		}
	}
	c.Users["sync_server01"] = t.AddUser(Actor{}, map[string]any{"id": StableID("user:sync"),
		"userPrincipalName": "Sync_SERVER01_1a2b3c4d5e6f@mycompany.onmicrosoft.com", "displayName": "On-Premises Directory Synchronization Service Account",
		"mailNickname": "Sync_SERVER01_1a2b3c4d5e6f"})
	c.Users["svc.backup"] = t.AddUser(Actor{}, map[string]any{"id": StableID("user:svc.backup"),
		"userPrincipalName": "svc.backup@mycompany.com", "displayName": "Backup service", "mailNickname": "svc.backup"})
	c.Users["guest.partner"] = t.AddUser(Actor{}, map[string]any{"id": StableID("user:guest"),
		"userPrincipalName": "guest.partner_partner.com#EXT#@mycompany.onmicrosoft.com", "displayName": "Gina Guest (Partner)",
		"mail": "gina@partner.com", "mailNickname": "guest.partner_partner.com#EXT#", "userType": "Guest", "givenName": "Gina", "surname": "Guest"})
	c.Admin = Actor{ID: c.Users["alice.andersen"], UPN: "alice.andersen@mycompany.com", DisplayName: "Alice Andersen"}
	c.Sync = Actor{ID: c.Users["sync_server01"], UPN: "Sync_SERVER01_1a2b3c4d5e6f@mycompany.onmicrosoft.com", DisplayName: "On-Premises Directory Synchronization Service Account"}

	for _, g := range []string{"All Employees", "Engineering", "Engineering-Backend", "Sales", "Human Resources",
		"Operations", "Finance", "App3_Users", "App4_Staff", "Consultants"} {
		c.Groups[g] = t.AddGroup(Actor{}, StableID("group:"+g), g)
	}
	add := func(g string, members ...string) {
		for _, m := range members {
			id := c.Users[m]
			if id == "" {
				id = c.Groups[m]
			}
			if err := t.AddMember(Actor{}, c.Groups[g], id); err != nil {
				panic(err) // seed data is static: a failure is a bug in this file
			}
		}
	}
	for _, p := range people {
		if p.dept == "Engineering" && p.title == "Software Engineer" {
			add("Engineering-Backend", nick(p))
		} else if p.dept != "Management" {
			add(p.dept, nick(p))
		}
		if p.title == "Consultant" {
			add("Consultants", nick(p))
		}
	}
	add("Engineering", "Engineering-Backend")
	add("All Employees", "alice.andersen", "Engineering", "Sales", "Human Resources", "Operations", "Finance")
	add("App3_Users", "chloe.martin", "george.brown")
	add("App4_Staff", "Operations")

	c.App1 = t.AddApplication(Actor{}, StableID("sp:Application1"), "Application1",
		AppRole{DisplayName: "Employees access", Value: "Employees"}, AppRole{DisplayName: "Admins access", Value: "Admins"})
	c.HRPortal = t.AddApplication(Actor{}, StableID("sp:HR Portal"), "HR Portal",
		AppRole{DisplayName: "Reader", Value: "Reader"}, AppRole{DisplayName: "Manager", Value: "Manager"})
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(t.AssignAppRole(Actor{}, c.App1, c.Groups["Engineering"], "Employees"))
	must(t.AssignAppRole(Actor{}, c.App1, c.Users["john.smith"], "Admins"))
	must(t.AssignAppRole(Actor{}, c.HRPortal, c.Groups["All Employees"], "Reader"))
	must(t.AssignAppRole(Actor{}, c.HRPortal, c.Users["julia.rossi"], "Manager"))
	return c
}
