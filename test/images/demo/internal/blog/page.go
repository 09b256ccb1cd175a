package blog

import (
	"html/template"
	"io"
)

// theme is how a version looks, so a rollout is visible in the browser.
type theme struct {
	Title, Tagline, Color string
}

func themeFor(version string) theme {
	switch version {
	case "v2":
		return theme{Title: "Skiff Blog v2: fresh coat of paint", Tagline: "New header, same posts: this page comes from the v2 image.", Color: "#b7410e"}
	case "v1":
		return theme{Title: "Skiff Blog", Tagline: "A tiny blog on a Skiff cluster.", Color: "#1f4e79"}
	}
	return theme{Title: "Skiff Blog (" + version + ")", Tagline: "A tiny blog on a Skiff cluster.", Color: "#444444"}
}

var indexTmpl = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Theme.Title}}</title></head>
<body style="font-family: sans-serif; max-width: 50em; margin: auto">
<header style="background: {{.Theme.Color}}; color: white; padding: 1em">
<h1>{{.Theme.Title}}</h1>
<p>{{.Theme.Tagline}} Version <b id="version">{{.Version}}</b>.</p>
</header>
<form method="post" action="/posts">
<p><input name="title" placeholder="Title" size="40" maxlength="200" required></p>
<p><textarea name="body" rows="4" cols="60" placeholder="Write something"></textarea></p>
<p><button type="submit">Publish</button></p>
</form>
{{if not .Posts}}<p>No posts yet.</p>{{end}}
{{range .Posts}}<article id="post-{{.ID}}">
<h2>{{.Title}}</h2>
<p><small>#{{.ID}}, {{.Created.Format "2006-01-02 15:04:05"}}</small></p>
<p style="white-space: pre-wrap">{{.Body}}</p>
</article>
{{end}}
<footer><hr><small>Served by {{.Hostname}}, version {{.Version}}, database {{.DB}}.</small></footer>
</body></html>
`))

func renderIndex(w io.Writer, c Config, posts []Post) error {
	return indexTmpl.Execute(w, struct {
		Theme                 theme
		Version, Hostname, DB string
		Posts                 []Post
	}{themeFor(c.Version), c.Version, c.Hostname, c.Addr(), posts})
}
