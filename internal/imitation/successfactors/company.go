package successfactors

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Person is one PerPerson entity with the entities SuccessFactors hangs off it. Times are dates (UTC midnight);
// a zero EndDate means open-ended.
type Person struct {
	PersonIDExternal string
	FirstName        string
	LastName         string
	Email            string
	Phone            string
	DateOfBirth      time.Time
	Employments      []Employment
	LastModified     time.Time
}

// Employment is one EmpEmployment of a person, with its User and its current EmpJob (jobInfoNav).
type Employment struct {
	UserID    string
	UserName  string
	StartDate time.Time
	EndDate   time.Time
	IsPrimary bool

	JobTitle   string
	ManagerID  string // the manager's userId, as in EmpJob.managerId
	Department string
	Division   string
	Company    string
	Country    string // ISO 3166 alpha-3, EmpJob's company country of registration

	City         string
	State        string
	ZipCode      string
	AddressLine1 string
}

// Company is the in-memory HR data behind the server. All methods are safe for concurrent use with the handler.
type Company struct {
	mu      sync.Mutex
	now     func() time.Time
	people  map[string]*Person
	ids     []string // sorted: pages are stable across requests
	version uint64
}

// NewCompany returns an empty company. now may be nil (wall clock); it stamps lastModifiedDateTime.
func NewCompany(now func() time.Time) *Company {
	if now == nil {
		now = time.Now
	}
	return &Company{now: now, people: map[string]*Person{}}
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func day(t time.Time) time.Time {
	t = t.UTC()
	return date(t.Year(), t.Month(), t.Day())
}

var (
	sampleFirst = []string{"Anna", "Bjørn", "Clara", "David", "Eva", "Fredrik", "Greta", "Håkon", "Ingrid", "Jonas",
		"Kari", "Lars", "Marte", "Nils", "Ola", "Pernille", "Rune", "Siri", "Tor", "Åse"}
	sampleLast = []string{"Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
		"Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen", "Johannessen", "Andreassen",
		"Jacobsen", "Dahl"}
	sampleTitles = []string{"Consultant", "Senior Consultant", "Developer", "Senior Developer", "Sales Manager",
		"Accountant", "HR Advisor", "Support Engineer"}
	sampleDepartments = []string{"Consulting", "Engineering", "Sales", "Finance", "Human Resources", "Support"}
	sampleCities      = []struct{ city, state, zip, country string }{
		{"Oslo", "Oslo", "0150", "NOR"}, {"Bergen", "Vestland", "5003", "NOR"}, {"Stockholm", "Stockholm", "11120", "SWE"},
	}
)

// NewSampleCompany seeds a deterministic company of n people (n >= 1), hired relative to now's date: person
// 1001 is the CEO and everyone else reports to the CEO or to a team lead. Every fifth person has an ended
// earlier employment listed before the current one (so [0] is not the current employment), the last person is a
// future hire starting in 14 days, and people are named from a Norwegian pool (diacritics included) with a number
// suffix beyond the first 20.
func NewSampleCompany(n int, now func() time.Time) *Company {
	c := NewCompany(now)
	today := day(c.now())
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%d", 1001+i)
		first, last := sampleFirst[i%len(sampleFirst)], sampleLast[(i*7)%len(sampleLast)]
		if i >= len(sampleFirst) {
			last = fmt.Sprintf("%s%d", last, i/len(sampleFirst))
		}
		loc := sampleCities[i%len(sampleCities)]
		mail := strings.ToLower(asciiName(first) + "." + asciiName(last) + "@mycompany.com")
		manager := ""
		switch {
		case i == 0:
		case i < 5:
			manager = "1001"
		default:
			manager = fmt.Sprintf("%d", 1002+i%4)
		}
		start := today.AddDate(-1-i%5, -(i % 11), -(i % 27))
		emp := Employment{
			UserID: id, UserName: strings.ToLower(asciiName(first)[:1] + asciiName(last)), StartDate: start,
			IsPrimary: true, JobTitle: sampleTitles[i%len(sampleTitles)], ManagerID: manager,
			Department: sampleDepartments[i%len(sampleDepartments)], Division: "Nordics", Company: "MyCompany " + loc.country,
			Country: loc.country, City: loc.city, State: loc.state, ZipCode: loc.zip,
			AddressLine1: fmt.Sprintf("Storgata %d", 1+i),
		}
		if i == 0 {
			emp.JobTitle = "Chief Executive Officer"
		}
		p := Person{PersonIDExternal: id, FirstName: first, LastName: last, Email: mail,
			Phone: fmt.Sprintf("+47 9%07d", 1000000+i), DateOfBirth: date(1965+i%30, time.Month(1+i%12), 1+i%28)}
		if n > 1 && i == n-1 {
			emp.StartDate = today.AddDate(0, 0, 14)
		}
		if i%5 == 4 {
			old := emp
			old.UserID, old.IsPrimary = id+"-old", false
			old.StartDate, old.EndDate = start.AddDate(-3, 0, 0), start.AddDate(0, 0, -1)
			old.JobTitle, old.ManagerID = "Trainee", "1001"
			p.Employments = append(p.Employments, old)
		}
		p.Employments = append(p.Employments, emp)
		c.Put(p)
	}
	return c
}

// asciiName folds the pool's Norwegian letters so sample user names and e-mails are plain ASCII.
func asciiName(s string) string {
	return strings.NewReplacer("ø", "o", "å", "a", "æ", "ae", "Ø", "O", "Å", "A", "Æ", "Ae").Replace(s)
}

// Put adds or replaces a person (keyed by PersonIDExternal) and stamps LastModified.
func (c *Company) Put(p Person) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p.Employments = slices.Clone(p.Employments)
	p.LastModified = c.now().UTC()
	if _, ok := c.people[p.PersonIDExternal]; !ok {
		i := sort.SearchStrings(c.ids, p.PersonIDExternal)
		c.ids = slices.Insert(c.ids, i, p.PersonIDExternal)
	}
	c.people[p.PersonIDExternal] = &p
	c.version++
}

// Remove deletes a person (as when HR purges a record); it reports whether the person existed.
func (c *Company) Remove(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.people[id]; !ok {
		return false
	}
	delete(c.people, id)
	i := sort.SearchStrings(c.ids, id)
	c.ids = slices.Delete(c.ids, i, i+1)
	c.version++
	return true
}

// Person returns a copy of a person.
func (c *Company) Person(id string) (Person, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.people[id]
	if !ok {
		return Person{}, false
	}
	cp := *p
	cp.Employments = slices.Clone(p.Employments)
	return cp, true
}

// Len is the number of people.
func (c *Company) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

// IDs returns the person ids in order.
func (c *Company) IDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ids)
}

// current is the index of the employment a change applies to: the open employment that started last (at or
// before today), else the one that started last.
func current(p *Person, today time.Time) int {
	best := -1
	for i, e := range p.Employments {
		if !e.EndDate.IsZero() && e.EndDate.Before(today) {
			continue
		}
		if e.StartDate.After(today) && best >= 0 {
			continue
		}
		if best < 0 || e.StartDate.After(p.Employments[best].StartDate) {
			best = i
		}
	}
	if best < 0 {
		for i, e := range p.Employments {
			if best < 0 || e.StartDate.After(p.Employments[best].StartDate) {
				best = i
			}
		}
	}
	return best
}

// Update changes a person's current employment through f and stamps LastModified.
func (c *Company) Update(id string, f func(p *Person, e *Employment)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.people[id]
	if !ok {
		return fmt.Errorf("successfactors: no person %q", id)
	}
	i := current(p, day(c.now()))
	if i < 0 {
		return fmt.Errorf("successfactors: person %q has no employment", id)
	}
	f(p, &p.Employments[i])
	p.LastModified = c.now().UTC()
	c.version++
	return nil
}

// SetTitle changes the job title of a person's current employment (a mover).
func (c *Company) SetTitle(id, title string) error {
	return c.Update(id, func(_ *Person, e *Employment) { e.JobTitle = title })
}

// SetManager makes managerID (a person id) the manager of id's current employment; EmpJob.managerId holds the
// manager's userId, which for seeded people is the person id. An empty managerID clears it.
func (c *Company) SetManager(id, managerID string) error {
	mgr := managerID
	if managerID != "" {
		c.mu.Lock()
		m, ok := c.people[managerID]
		if ok {
			if i := current(m, day(c.now())); i >= 0 {
				mgr = m.Employments[i].UserID
			}
		}
		c.mu.Unlock()
		if !ok {
			return fmt.Errorf("successfactors: no manager %q", managerID)
		}
	}
	return c.Update(id, func(_ *Person, e *Employment) { e.ManagerID = mgr })
}

// SetEndDate terminates a person's current employment on end (a leaver); the zero time reopens it.
func (c *Company) SetEndDate(id string, end time.Time) error {
	return c.Update(id, func(_ *Person, e *Employment) {
		if end.IsZero() {
			e.EndDate = time.Time{}
			return
		}
		e.EndDate = day(end)
	})
}

// SetStartDate moves a person's current employment start (e.g. a future hire).
func (c *Company) SetStartDate(id string, start time.Time) error {
	return c.Update(id, func(_ *Person, e *Employment) { e.StartDate = day(start) })
}

// snapshot copies the people in id order for rendering outside the lock.
func (c *Company) snapshot() []Person {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Person, 0, len(c.ids))
	for _, id := range c.ids {
		p := *c.people[id]
		p.Employments = slices.Clone(p.Employments)
		out = append(out, p)
	}
	return out
}
