# Accessibility and sharing in the page, for every tab: landmarks, tab semantics, keyboard access
# to bslib's full-screen control, the lazily drawn "Data" sections behind charts, and the "Copy
# link" control. bslib 0.4.2 (Debian 12) writes the navbar as a plain list of links and the
# full-screen control as a <span> shown only on hover; a small script adds what they lack.

A11Y_CSS <- paste0(
  # bootstrap's #6c757d muted text is 4.37:1 on the card headers' #f7f7f7; this is >= 5.5:1.
  ".text-muted{color:#5c636a!important}",
  # bootstrap's danger (#dc3545) and warning texts are 4.3:1 and 1.6:1 on the value boxes.
  ".text-danger{color:#b02a37!important}.text-warning{color:#7a5a00!important}",
  ".dw-app-title{font-size:1.25rem;margin:0;display:inline;font-weight:400;color:inherit}",
  ".dw-card-title{font-size:1rem;margin:0;display:inline;font-weight:400}",
  # The full-screen control stays in the layout (display:block) so the Tab key reaches it,
  # invisible until the card is hovered or something in it has focus.
  ".card:not(.bslib-full-screen) .bslib-full-screen-enter{display:block;opacity:0}",
  ".card:hover:not(.bslib-full-screen) .bslib-full-screen-enter,",
  ".card:focus-within:not(.bslib-full-screen) .bslib-full-screen-enter{opacity:1}",
  ".bslib-full-screen-enter:focus-visible,.bslib-full-screen-exit:focus-visible{outline:3px solid #0d6efd;",
  "outline-offset:2px;opacity:1}",
  # Shiny draws an output only while it is visible; display:none makes that plain to it.
  "details.dw-data:not([open])>:not(summary){display:none}",
  ".dw-data>summary{cursor:pointer;color:#0a58ca;font-size:.875rem;width:max-content}",
  ".dw-data[open]>summary{margin-bottom:.25rem}",
  ".dw-share{display:flex;align-items:center;gap:.5rem}",
  ".dw-skip:focus{position:fixed;top:.25rem;left:.25rem;z-index:2000;background:#fff;padding:.25rem .5rem}"
)

A11Y_JS <- "
(function() {
  // Landmarks: a <header> around the navbar, <main> around filters and tabs.
  function landmarks() {
    var nav = document.querySelector('body > nav.navbar');
    if (nav && nav.parentNode.tagName !== 'HEADER') {
      var header = document.createElement('header');
      nav.parentNode.insertBefore(header, nav);
      header.appendChild(nav);
    }
    var content = document.querySelector('.tab-content');
    var main = content && content.closest('body > header ~ .container-fluid, body > .container-fluid');
    if (main && !main.getAttribute('role')) { main.setAttribute('role', 'main'); main.id = main.id || 'dw-main'; }
  }
  // WAI-ARIA tabs: tablist/tab/tabpanel, aria-selected, aria-controls, one tab in the Tab order
  // (arrow keys move between tabs).
  function tabs() {
    document.querySelectorAll('ul.shiny-tab-input').forEach(function(ul) {
      ul.setAttribute('role', 'tablist');
      ul.setAttribute('aria-label', 'Dashboards');
      ul.querySelectorAll(':scope > li').forEach(function(li) { li.setAttribute('role', 'presentation'); });
      ul.querySelectorAll('a[data-bs-toggle=\"tab\"]').forEach(function(a) {
        var pane = document.querySelector(a.getAttribute('href'));
        if (!pane) return;
        if (!a.id) a.id = pane.id + '-tab';
        var on = a.classList.contains('active');
        a.setAttribute('role', 'tab');
        a.setAttribute('aria-controls', pane.id);
        a.setAttribute('aria-selected', on ? 'true' : 'false');
        a.setAttribute('tabindex', on ? '0' : '-1');
        pane.setAttribute('role', 'tabpanel');
        pane.setAttribute('aria-labelledby', a.id);
      });
    });
  }
  // bslib's full-screen control: a focusable button named after its card.
  function expanders(root) {
    (root || document).querySelectorAll('.bslib-full-screen-enter:not([tabindex])').forEach(function(el) {
      var card = el.closest('.card');
      var title = card && card.querySelector('.dw-card-title');
      el.setAttribute('tabindex', '0');
      el.setAttribute('role', 'button');
      el.setAttribute('aria-label', 'Expand' + (title ? ': ' + title.textContent.trim() : ' chart'));
    });
  }
  var lastEnter = null;
  function press(e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.click(); } }
  $(document).on('keydown', '.bslib-full-screen-enter, .bslib-full-screen-exit', press);
  $(document).on('click', '.bslib-full-screen-enter', function() {
    lastEnter = this;
    setTimeout(function() {
      var exit = document.querySelector('.bslib-full-screen-exit');
      if (exit) {
        exit.setAttribute('tabindex', '0');
        exit.setAttribute('role', 'button');
        exit.focus();
      }
      window.dispatchEvent(new Event('resize'));
    }, 0);
  });
  function restoreFocus() {
    setTimeout(function() {
      if (lastEnter && !document.querySelector('.bslib-full-screen')) { lastEnter.focus(); lastEnter = null; }
      window.dispatchEvent(new Event('resize'));
    }, 0);
  }
  $(document).on('click', '.bslib-full-screen-exit', restoreFocus);
  document.addEventListener('keyup', function(e) { if (e.key === 'Escape') restoreFocus(); });
  $(document).on('keydown', '[role=tab]', function(e) {
    var all = [].slice.call(this.closest('[role=tablist]').querySelectorAll('[role=tab]'));
    var i = all.indexOf(this), next = null;
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') next = all[(i + 1) % all.length];
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') next = all[(i - 1 + all.length) % all.length];
    else if (e.key === 'Home') next = all[0];
    else if (e.key === 'End') next = all[all.length - 1];
    if (next) { e.preventDefault(); next.click(); next.focus(); }
  });
  $(document).on('shown.bs.tab', function() { tabs(); });
  // A chart's Data section draws its table only when opened: Shiny renders hidden outputs
  // once told that their visibility changed.
  document.addEventListener('toggle', function(e) {
    if (e.target.matches && e.target.matches('details.dw-data')) $(e.target).trigger(e.target.open ? 'shown' : 'hidden');
  }, true);
  // Copy link: the address bar holds the view (Shiny bookmarking keeps it up to date).
  $(document).on('click', '.dw-copy-link', function() {
    var status = document.getElementById('dw-share-status');
    var url = window.location.href;
    var done = function(ok) { if (status) status.textContent = ok ? 'Link copied' : 'Copy the address bar to share this view'; };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(url).then(function() { done(true); }, function() { done(false); });
    else {
      var field = document.createElement('textarea');
      field.value = url; document.body.appendChild(field); field.select();
      var ok = false; try { ok = document.execCommand('copy'); } catch (err) { ok = false; }
      field.remove(); done(ok);
    }
  });
  // Widgets drawn by Shiny after load: selectize's text box is named by its <label> (which
  // points at the hidden <select>), and a horizontally scrolling DataTable body can be reached
  // and scrolled with the keyboard.
  function late() {
    document.querySelectorAll('.selectize-control input[role=combobox]:not([aria-labelledby])').forEach(function(box) {
      var select = box.closest('.selectize-control').previousElementSibling;
      var label = select && select.id && document.getElementById(select.id + '-label');
      if (label && label.textContent.trim()) box.setAttribute('aria-labelledby', label.id);
    });
    document.querySelectorAll('.dataTables_scrollBody:not([tabindex])').forEach(function(body) {
      var card = body.closest('.card');
      var title = card && card.querySelector('.dw-card-title');
      body.setAttribute('tabindex', '0');
      body.setAttribute('role', 'region');
      body.setAttribute('aria-label', (title ? title.textContent.trim() : 'Table') + ' (scrolls sideways)');
    });
  }
  function all() { landmarks(); tabs(); expanders(); late(); }
  $(all);
  $(document).on('shiny:idle init.dt', function() { setTimeout(late, 0); });
})();
"

# The page's additions for accessibility and sharing, for the header of page_navbar.
a11y_head <- function() {
  tagList(tags$style(HTML(A11Y_CSS)), tags$script(HTML(A11Y_JS)))
}

# "Copy link": the address bar holds the tab, range and filters (bookmarking, app.R); the
# status is announced to screen readers.
share_control <- function() {
  div(class = "dw-share",
      tags$button(type = "button", class = "btn btn-sm btn-outline-secondary dw-copy-link", "Copy link to this view"),
      span(id = "dw-share-status", class = "small", role = "status", `aria-live` = "polite"))
}
