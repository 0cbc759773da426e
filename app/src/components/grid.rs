//! The grid of session tiles: title, subtitle, state badge and a live ANSI preview of the
//! screen (from `screen_batch`, no terminal per tile), plus the "+" launch card.

use super::use_ui;
use crate::ansi::parse_line;
use crate::model::{prefix, state_class, state_label, Preview, SessionView};
use leptos::prelude::*;

/// The grid.
#[component]
pub fn Grid() -> impl IntoView {
    let ui = use_ui();
    let fleet = ui.feed.fleet;
    let tiles = move || fleet.sessions.get().unwrap_or_default();
    let empty = move || {
        fleet
            .sessions
            .with(|s| s.as_ref().is_none_or(Vec::is_empty))
            && !ui.can_launch()
    };
    view! {
     <main class="grid" aria-label="Session tiles">
         <Show when=empty>
             <p class="empty">"Waiting for connections…"</p>
         </Show>
         <For each=tiles key=|v| v.id.clone() let:view>
             <Tile view/>
         </For>
         <Show when=move || ui.can_launch()>
             <button class="tile launch-card" title="Launch new session" on:click=move |_| ui.launch_open.set(true)>
                 <span class="plus">"+"</span>
             </button>
         </Show>
     </main>
    }
}

#[component]
fn Tile(view: SessionView) -> impl IntoView {
    let ui = use_ui();
    let id = view.id.clone();
    let title = view.title();
    let subtitle = view.subtitle();
    let state = view.state.clone();
    let state_text = {
        let state = state.clone();
        move || state.with(|s| state_label(s.as_ref()))
    };
    let label = {
        let short = prefix(&id, 8).to_owned();
        let title = title.clone();
        let state_text = state_text.clone();
        move || format!("{title} {short} {}", state_text().to_lowercase())
    };
    let badge = move || format!("badge {}", state.with(|s| state_class(s.as_ref())));
    let preview = view.preview.clone();
    let html = move || preview.with(|p| p.as_ref().map(preview_html).unwrap_or_default());
    let cols = {
        let preview = view.preview.clone();
        move || preview.with(|p| format!("--cols:{}", p.as_ref().map_or(80, |p| p.cols)))
    };
    let hidden = {
        let id = id.clone();
        move || ui.focused.with(|f| f.as_deref() == Some(id.as_str()))
    };
    let (click_id, key_id) = (id.clone(), id.clone());
    view! {
        <div
            class="tile"
            class:hidden=hidden
            role="button"
            tabindex="0"
            aria-label=label
            data-session=id.clone()
            on:click=move |_| ui.toggle(&click_id)
            on:keydown=move |ev| {
                if ev.key() == "Enter" || ev.key() == " " {
                    ev.prevent_default();
                    ui.toggle(&key_id);
                }
            }
        >
            <div class="tile-head">
                <div class="tile-titles">
                    <div class="tile-title">{title}</div>
                    <div class="tile-sub">{subtitle}</div>
                </div>
                <span class=badge>{state_text}</span>
            </div>
            // The flex box anchors the rows to the bottom; the <pre> keeps each row on one line.
            <div class="preview" style=cols aria-hidden="true">
                <pre inner_html=html></pre>
            </div>
        </div>
    }
}

/// The preview as HTML: one line per row, SGR runs as styled spans, text escaped.
pub fn preview_html(preview: &Preview) -> String {
    let mut html = String::new();
    for (i, row) in preview.rows.iter().enumerate() {
        if i > 0 {
            html.push('\n');
        }
        for seg in parse_line(row) {
            let css = seg.style.css();
            if css.is_empty() {
                escape_into(&seg.text, &mut html);
            } else {
                html.push_str("<span style=\"");
                escape_into(&css, &mut html);
                html.push_str("\">");
                escape_into(&seg.text, &mut html);
                html.push_str("</span>");
            }
        }
    }
    html
}

fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_escape_text_and_style_runs() {
        let p = Preview {
            rows: vec!["\x1b[31m<b>&\x1b[0m ok".into(), "$".into()],
            cols: 80,
        };
        assert_eq!(
            preview_html(&p),
            "<span style=\"color:#cd3131;\">&lt;b&gt;&amp;</span> ok\n$"
        );
    }
}
