package demo

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/scim-stream/scim-stream/config"
)

// demoConfig is the demo's config.yaml before bootstrap adds the NATS keys: the documentation's Entra example
// (five channels, the default Entra mapper, one dynamic) and its SuccessFactors example (the documented mapper),
// pointed at the imitation servers. Placeholders: {{GRAPH}}, {{SF}}, {{PORT}}, {{APP1}}.
const demoConfig = demoEntraSection + HRSection + demoTail

const demoEntraSection = `# SCIM Stream demo configuration: the documentation's examples against imitation servers.
entra:
  mycompany:
    auth:
      oauth:
        clients:
          - client_id: demo-client
            client_secret: demo-client-secret
    general:
      collect_interval: 5
      entra:
        tenant_id: mycompany.com
        graph_url: {{GRAPH}}
        login_url: {{GRAPH}}
    streams:
      - channel: APP1
        comment: Includes all roles of the enterprise application Application1 (by object id)
        rules:
          - filter: (user.roles.{{APP1}}.value -match ".*")
      - channel: APP2
        comment: Includes two groups
        rules:
          - filter: (user.groups.value -match "Sales")
          - filter: (user.groups.value -match "Finance")
      - channel: APP3
        comment: Groups whose name starts with App3, and the role Employees of Application1
        rules:
          - filter: (user.groups.display -match "App3.*")
          - filter: (user.roles.Application1.value -match "Employees")
      - channel: APP4
        comment: Members of App4 groups who are Dog Trainers or Project Managers, and users of the dynamic
        rules:
          - filter: (user.groups.display -match "App4.*") and (user.title -match "(Dog Trainer|Project Manager)")
          - filter: (user.dynamicIds -match "dynamic-1")
      - channel: APP5
        comment: All included (all users, groups and applications)
        rules:
          - filter: (.*)
    dynamics:
      - comment: Consultants get two groups and a role
        dynamic_id: dynamic-1
        rules:
          - filter: (user.title -match ".*Consultant.*")
        assignments:
          user.groups:
            - display: Grp1-name
              value: Grp1-id
          user.roles:
            - display: Employee access
              value: Employee
              type: App1
`

// HRSection is the documentation's SuccessFactors tenant with basic auth against the imitation, collected
// every 5 seconds instead of nightly.
const HRSection = `hr:
  mycompany:
    auth:
      base_urls:
        - {{SF}}
      basic:
        username: demo-api
        password: demo-api-password
    general:
      collect_interval: 5
      hr:
        pre_activate_days: 0
        collect_query_result_path: d.results
        collect_query_string: /odata/v2/PerPerson?$count=true&customPageSize=100&$format=json&$expand=employmentNav/userNav,employmentNav/jobInfoNav,personalInfoNav,personEmpTerminationInfoNav,phoneNav,emailNav,employmentNav/jobInfoNav/companyNav/countryOfRegistrationNav,employmentNav/jobInfoNav/divisionNav,employmentNav/jobInfoNav/departmentNav&$filter=employmentNav/startDate ne null
    streams:
      - channel: SF
        comment: All included
        rules:
          - filter: (.*)
    mapper:
      rules:
        - filter: (employmentNav.results -most_current "startDate")
      user:
        - personIdExternal:
            map_to: userName
        - ? GetUniqueValue(Normalize(Join(LowerCase(Replace([name.givenName]," ",".")),".",LowerCase(Replace([name.familyName]," ",".")),Increment("01",false),"@mycompany.com")))
          : map_to: onCreate.userPrincipalName
        - ? GetUniqueValue(Normalize(Join(FirstN(LowerCase([name.familyName]),3),FirstN(LowerCase([name.givenName]),2),Increment("01",true))))
          : map_to: onCreate.sAMAccountName
        - employmentNav.results.[0].startDate:
            map_to: startDate
        - employmentNav.results.[0].endDate:
            map_to: endDate
        - personalInfoNav.results.[0].firstName:
            map_to: name.givenName
        - personalInfoNav.results.[0].lastName:
            map_to: name.familyName
        - Join([name.givenName], " ", [name.familyName]):
            map_to: name.formatted
        - employmentNav.results.[0].userNav.city:
            map_to: addresses[type eq "work"].city
        - employmentNav.results.[0].jobInfoNav.results.[0].jobTitle:
            map_to: title
        - employmentNav.results.[0].jobInfoNav.results.[0].managerId:
            map_to: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.manager.value
        - employmentNav.results.[0].jobInfoNav.results.[0].department:
            map_to: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.department
`

const demoTail = `log:
  console: true
  level: info
nats:
  server:
    port: {{PORT}}
`

// writeDemoConfig writes the demo configuration to path (unless it exists: a -dir demo restarts on its own
// configuration and state) and returns whether it was written.
func writeDemoConfig(path, graphURL, sfURL, app1 string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	port, err := FreePort()
	if err != nil {
		return false, err
	}
	body := strings.NewReplacer("{{GRAPH}}", graphURL, "{{SF}}", sfURL, "{{PORT}}", strconv.Itoa(port), "{{APP1}}", app1).Replace(demoConfig)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	return true, os.WriteFile(path, []byte(body), 0o600)
}

// FreePort asks the kernel for a free loopback port, so the demo never collides with a running broker on 9012.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("demo: no free port for the NATS broker: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// setDemoURLs points an existing demo configuration at this run's imitation servers (they listen on new ports
// each time), keeping everything else of the file.
func setDemoURLs(path, graphURL, sfURL string) error {
	g := []string{"entra", "mycompany", "general", "entra"}
	return config.Update(path,
		config.Change{Path: append(g[:4:4], "graph_url"), Value: graphURL},
		config.Change{Path: append(g[:4:4], "login_url"), Value: graphURL},
		config.Change{Path: []string{"hr", "mycompany", "auth", "base_urls"}, Value: []any{sfURL}})
}
