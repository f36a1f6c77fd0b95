package discordbot

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/clorebot/clorebot/bot/chat"
	"github.com/clorebot/clorebot/commands"
)

// Identity prefixes: a user, and a role named in policy lists.
const (
	userPrefix = commands.PlatformDiscord + ":"
	// RolePrefix names a Discord role in policy lists: "discord-role:<id>".
	RolePrefix = "discord-role:"
)

// invoker is who sent an interaction: in a guild the member, in a DM the user.
func invoker(i *discordgo.Interaction) (id, name string, roles []string) {
	switch {
	case i.Member != nil && i.Member.User != nil:
		id, name = i.Member.User.ID, i.Member.User.Username
		for _, r := range i.Member.Roles {
			roles = append(roles, RolePrefix+r)
		}
	case i.User != nil:
		id, name = i.User.ID, i.User.Username
	}
	return id, name, roles
}

// origin is where an interaction came from, with its reply target: the
// interaction's token (for 15 minutes) and its channel.
func (b *Bot) origin(i *discordgo.Interaction) (chat.Origin, []string) {
	id, name, roles := invoker(i)
	return chat.Origin{Platform: commands.PlatformDiscord, UserID: id, UserName: name, Channel: channelRef(i),
		ReplyTarget: encodeTarget(target{Channel: i.ChannelID, Token: i.Token, Created: b.now(), ID: i.ID})}, roles
}

// commandRequest is the request of /clore: its idempotency key is the
// interaction id (one interaction, at most one job), its roles the member's.
func (b *Bot) commandRequest(i *discordgo.Interaction, text string) commands.Request {
	o, roles := b.origin(i)
	req := chat.CommandRequest(o, text, i.ID)
	req.Roles = roles
	return req
}

// clickRequest is the request of a button click on message messageID.
func (b *Bot) clickRequest(i *discordgo.Interaction, a commands.Action, messageID string) commands.Request {
	o, roles := b.origin(i)
	req := chat.ClickRequest(o, a.ID, a.Value, messageID)
	req.Roles = roles
	return req
}

// channelRef names the channel for the audit log.
func channelRef(i *discordgo.Interaction) string {
	if i.GuildID != "" {
		return i.GuildID + "/" + i.ChannelID
	}
	return "dm/" + i.ChannelID
}

// optionMap indexes options by name.
type optionMap map[string]*discordgo.ApplicationCommandInteractionDataOption

func options(opts []*discordgo.ApplicationCommandInteractionDataOption) optionMap {
	m := optionMap{}
	for _, o := range opts {
		m[o.Name] = o
	}
	return m
}

// badOption is an option a user cannot have meant; its text is shown with
// the usage line.
type badOption struct{ command, problem string }

func (e *badOption) Error() string { return e.problem }

// commandText turns /clore's subcommand and options into the command text of
// DESIGN.md §3, which the command layer then parses and checks like any
// other: the ranges and names are checked once, in one place.
func commandText(data discordgo.ApplicationCommandInteractionData) (string, error) {
	if data.Name != CommandName || len(data.Options) != 1 {
		return "", &badOption{"", "unknown command /" + data.Name}
	}
	sub := data.Options[0]
	o := options(sub.Options)
	switch sub.Name {
	case "rent":
		return rentText(o)
	case "cancel":
		id, err := o.id("cancel", optOrder, true)
		return "cancel " + id, err
	case "status":
		id, err := o.id("status", optOrder, false)
		return strings.TrimSpace("status " + id), err
	case "watch":
		if sub.Type != discordgo.ApplicationCommandOptionSubCommandGroup || len(sub.Options) != 1 {
			return "", &badOption{"watch", "watch needs create, list or cancel"}
		}
		return watchText(sub.Options[0])
	case "market":
		gpu, err := o.gpu("market", false)
		if err != nil {
			return "", err
		}
		text := strings.TrimSpace("market " + gpu)
		if _, ok := o[optHistory]; ok {
			w, err := o.word("market", optHistory)
			if err != nil {
				return "", err
			}
			text += " --history " + w
		}
		return text, nil
	case "spend":
		since, err := o.word("spend", "since")
		if err != nil {
			return "", err
		}
		by, err := o.word("spend", "by")
		return commands.Command{Name: "spend", Spend: &commands.SpendArgs{Since: since, By: by}}.String(), err
	case "help":
		topic, err := o.word("help", optTopic)
		return strings.TrimSpace("help " + topic), err
	case "extend":
		id, err := o.id("extend", optOrder, true)
		if err != nil {
			return "", err
		}
		hours, err := o.number("extend", optHours)
		if err != nil || hours == 0 {
			return "extend " + id, err
		}
		return "extend " + id + " " + strconv.FormatFloat(hours, 'f', -1, 64), nil
	}
	return "", &badOption{"", "unknown subcommand " + strconv.Quote(sub.Name)}
}

func rentText(o optionMap) (string, error) {
	gpu, err := o.gpu("rent", true)
	if err != nil {
		return "", err
	}
	a := commands.RentArgs{GPU: gpu}
	if a.Count, err = o.count("rent"); err != nil {
		return "", err
	}
	if a.MaxPrice, err = o.number("rent", optMaxPrice); err != nil {
		return "", err
	}
	if a.Hours, err = o.number("rent", optHours); err != nil {
		return "", err
	}
	if v, ok := o[optSpot]; ok {
		a.Spot = v.BoolValue()
	}
	if v, ok := o[optImage]; ok {
		a.Image = v.StringValue()
		if a.Image == "" {
			return "", &badOption{"rent", "image must not be empty"}
		}
	}
	// The command's canonical text quotes what needs quoting; the command
	// layer parses it back and checks every value.
	return commands.Command{Name: "rent", Rent: &a}.String(), nil
}

func watchText(sub *discordgo.ApplicationCommandInteractionDataOption) (string, error) {
	o := options(sub.Options)
	switch sub.Name {
	case "list":
		return "watch list", nil
	case "cancel":
		id, err := o.id("watch", optWatch, true)
		return "watch cancel " + id, err
	case "create":
	default:
		return "", &badOption{"watch", "unknown watch subcommand " + strconv.Quote(sub.Name)}
	}
	gpu, err := o.gpu("watch", true)
	if err != nil {
		return "", err
	}
	price, err := o.number("watch", optMaxPrice)
	if err != nil {
		return "", err
	}
	if price == 0 {
		return "", &badOption{"watch", "watch needs max_price, the target USD per GPU per hour"}
	}
	parts := []string{"watch", gpu, strconv.FormatFloat(price, 'f', -1, 64)}
	if v, ok := o[optAutoRent]; ok && v.BoolValue() {
		parts = append(parts, "--auto-rent")
	}
	n, err := o.count("watch")
	if err != nil {
		return "", err
	}
	if n > 1 {
		parts = append(parts, "--count", strconv.Itoa(n))
	}
	if _, ok := o[optFor]; ok {
		d, err := o.word("watch", optFor)
		if err != nil {
			return "", err
		}
		parts = append(parts, "--for", d)
	}
	return strings.Join(parts, " "), nil
}

// gpu reads the GPU option: letters, digits, spaces, "-" and "_", each word
// starting with a letter or digit, so that it can never read as a flag.
func (o optionMap) gpu(command string, required bool) (string, error) {
	v, ok := o[optGPU]
	if !ok {
		if required {
			return "", &badOption{command, command + " needs a GPU model, e.g. 4090, a100 80gb, h100"}
		}
		return "", nil
	}
	s, isString := v.Value.(string)
	if !isString || len(s) > gpuMaxLen {
		return "", &badOption{command, fmt.Sprintf("gpu must be a GPU model name of at most %d characters", gpuMaxLen)}
	}
	for _, w := range strings.Fields(s) {
		if !alnum(rune(w[0])) {
			return "", &badOption{command, fmt.Sprintf("gpu %q: each word of a GPU name starts with a letter or digit", cut(s, 40))}
		}
		for _, r := range w {
			if !alnum(r) && r != '-' && r != '_' {
				return "", &badOption{command, fmt.Sprintf(`gpu %q may contain only letters, digits, spaces, "-" and "_"`, cut(s, 40))}
			}
		}
	}
	if strings.TrimSpace(s) == "" && required {
		return "", &badOption{command, command + " needs a GPU model, e.g. 4090, a100 80gb, h100"}
	}
	return strings.Join(strings.Fields(s), " "), nil
}

// word reads an option that must be one plain word (a help topic, a duration).
func (o optionMap) word(command, name string) (string, error) {
	v, ok := o[name]
	if !ok {
		return "", nil
	}
	s, isString := v.Value.(string)
	if !isString || s == "" || len(s) > 32 {
		return "", &badOption{command, name + " must be one word"}
	}
	for _, r := range s {
		if !alnum(r) {
			return "", &badOption{command, fmt.Sprintf("%s %q must be letters and digits only", name, cut(s, 20))}
		}
	}
	return s, nil
}

// id reads a positive whole-number id option.
func (o optionMap) id(command, name string, required bool) (string, error) {
	v, ok := o[name]
	if !ok {
		if required {
			return "", &badOption{command, command + " needs " + name}
		}
		return "", nil
	}
	var n float64
	switch x := v.Value.(type) {
	case float64:
		n = x
	case string: // autocomplete values may arrive as strings
		var err error
		if n, err = strconv.ParseFloat(x, 64); err != nil {
			return "", &badOption{command, fmt.Sprintf("%s %q is not a number", name, cut(x, 20))}
		}
	default:
		return "", &badOption{command, name + " must be a number"}
	}
	if n < idRange[0] || n > idRange[1] || n != math.Trunc(n) {
		return "", &badOption{command, fmt.Sprintf("%s must be a positive whole number, got %v", name, n)}
	}
	return strconv.FormatInt(int64(n), 10), nil
}

// count reads the count option, 1 when absent; the range is the grammar's.
func (o optionMap) count(command string) (int, error) {
	v, ok := o[optCount]
	if !ok {
		return 1, nil
	}
	n, isNum := v.Value.(float64)
	if !isNum || n < countRange[0] || n > countRange[1] || n != math.Trunc(n) {
		return 0, &badOption{command, fmt.Sprintf("count must be a whole number from %g to %g, got %v", countRange[0], countRange[1], v.Value)}
	}
	return int(n), nil
}

// number reads a positive number option, 0 when absent.
func (o optionMap) number(command, name string) (float64, error) {
	v, ok := o[name]
	if !ok {
		return 0, nil
	}
	n, isNum := v.Value.(float64)
	if !isNum || !(n > 0) || math.IsInf(n, 0) {
		return 0, &badOption{command, fmt.Sprintf("%s must be a number above 0, got %v", name, v.Value)}
	}
	return n, nil
}

func alnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}
