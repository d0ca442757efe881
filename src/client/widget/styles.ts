/// <reference lib="dom" />
/**
 * The widget's styles. A host page themes it through these custom
 * properties, set on `herald-inbox` or any ancestor (defaults in brackets):
 *
 *   --herald-font           font family [inherit]
 *   --herald-color          text [#1f2328]
 *   --herald-muted          secondary text: times, types [#6b7280]
 *   --herald-bg             panel and toast background [#fff]
 *   --herald-border         borders and separators [#e5e7eb]
 *   --herald-accent         primary buttons, active tab, unread mark [#2563eb]
 *   --herald-accent-text    text on the accent colour [#fff]
 *   --herald-badge-bg       the unseen badge [#dc2626]
 *   --herald-badge-text     the badge's number [#fff]
 *   --herald-unread-bg      background of an unread notification [#f0f6ff]
 *   --herald-hover-bg       a hovered row or button [#f3f4f6]
 *   --herald-radius         corner radius [8px]
 *   --herald-shadow         panel and toast shadow [0 8px 24px rgba(0,0,0,.15)]
 *   --herald-panel-width    the panel's width [360px]
 *   --herald-panel-height   the panel's largest height [480px]
 *   --herald-z              z-index of the panel and toasts [1000]
 */
export const STYLES = `
:host{position:relative;display:inline-block;font-family:var(--herald-font,inherit);color:var(--herald-color,#1f2328);font-size:14px;line-height:1.4}
*{box-sizing:border-box}
[hidden]{display:none!important}
button{font:inherit;color:inherit;background:none;border:1px solid transparent;border-radius:var(--herald-radius,8px);padding:4px 8px;cursor:pointer}
button:hover{background:var(--herald-hover-bg,#f3f4f6)}
button:focus-visible,input:focus-visible{outline:2px solid var(--herald-accent,#2563eb);outline-offset:1px}
.bell{position:relative;padding:6px;font-size:20px;line-height:1}
.badge{position:absolute;top:-2px;right:-4px;min-width:18px;height:18px;padding:0 5px;border-radius:9px;background:var(--herald-badge-bg,#dc2626);color:var(--herald-badge-text,#fff);font-size:11px;font-weight:600;line-height:18px;text-align:center}
.conn{position:absolute;bottom:0;right:0;width:8px;height:8px;border-radius:4px;background:#f59e0b}
.panel,.toasts{position:absolute;right:0;z-index:var(--herald-z,1000);background:var(--herald-bg,#fff);border:1px solid var(--herald-border,#e5e7eb);border-radius:var(--herald-radius,8px);box-shadow:var(--herald-shadow,0 8px 24px rgba(0,0,0,.15))}
.panel{top:calc(100% + 6px);width:var(--herald-panel-width,360px);max-width:95vw;display:flex;flex-direction:column;max-height:var(--herald-panel-height,480px)}
.panel.start,.panel.start+.toasts{right:auto;left:0}
.head,.tabs{display:flex;align-items:center;gap:4px;padding:6px 8px;border-bottom:1px solid var(--herald-border,#e5e7eb)}
.head{flex-wrap:wrap}
.head .title{font-weight:600;flex:1}
.head button{white-space:nowrap;font-size:12px;padding:4px 6px}
.status{font-size:12px;color:var(--herald-muted,#6b7280)}
.tab[aria-selected=true]{color:var(--herald-accent,#2563eb);border-bottom:2px solid var(--herald-accent,#2563eb);border-radius:0}
.body{overflow-y:auto;flex:1;min-height:80px}
ul{list-style:none;margin:0;padding:0}
.item{padding:8px 10px;border-bottom:1px solid var(--herald-border,#e5e7eb)}
.item.unread{background:var(--herald-unread-bg,#f0f6ff)}
.item.unread .t::before{content:"";display:inline-block;width:7px;height:7px;margin-right:6px;border-radius:4px;background:var(--herald-accent,#2563eb)}
.open{display:block;width:100%;text-align:left;padding:0;border:0}
.open:hover{background:none}
.open>span,.toast>span{display:block}
.img{float:right;width:40px;height:40px;margin-left:8px;object-fit:cover;border-radius:6px}
.t{font-weight:600;overflow-wrap:anywhere}
.c{margin-top:2px;white-space:pre-wrap;overflow-wrap:anywhere}
.open>.meta{display:flex;gap:8px;margin-top:4px;font-size:12px;color:var(--herald-muted,#6b7280)}
.row{display:flex;flex-wrap:wrap;gap:4px;margin-top:6px}
.row button,.prefs button,.menu button{border-color:var(--herald-border,#e5e7eb);font-size:12px}
button.primary{background:var(--herald-accent,#2563eb);color:var(--herald-accent-text,#fff)}
.menu{display:flex;flex-wrap:wrap;align-items:center;gap:4px;margin-top:6px}
.note{padding:16px;text-align:center;color:var(--herald-muted,#6b7280)}
.toasts{top:calc(100% + 6px);width:var(--herald-panel-width,360px);max-width:95vw;border:0;background:none;box-shadow:none}
.toast{display:block;width:100%;text-align:left;margin-bottom:6px;padding:10px 12px;background:var(--herald-bg,#fff);border:1px solid var(--herald-border,#e5e7eb);box-shadow:var(--herald-shadow,0 8px 24px rgba(0,0,0,.15))}
.prefs{padding:8px 10px;display:grid;gap:10px}
.prefs fieldset{border:1px solid var(--herald-border,#e5e7eb);border-radius:var(--herald-radius,8px);margin:0;padding:6px 8px;display:grid;gap:4px}
.prefs label{display:inline-flex;align-items:center;gap:4px;margin-right:8px;font-size:13px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
`;

/**
 * Attaches the styles to a shadow root: as a constructed stylesheet where the
 * browser has them (a page whose Content-Security-Policy forbids inline
 * styles still gets them), else as a <style> element.
 */
export function adoptStyles(root: ShadowRoot): void {
  if ('adoptedStyleSheets' in root && typeof CSSStyleSheet !== 'undefined' && 'replaceSync' in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLES);
    root.adoptedStyleSheets = [sheet];
    return;
  }
  const style = document.createElement('style');
  style.textContent = STYLES;
  root.append(style);
}
