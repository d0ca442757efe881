/// <reference lib="dom" />
/**
 * The two ways the widget may get attention outside its own box: a short
 * beep (no audio file to ship: a WebAudio oscillator) and the browser's own
 * notification. Browsers allow both only after a user gesture, so `unlock()`
 * is called from a click on the bell.
 */
export class Alerts {
  private audio: AudioContext | null = null;

  unlock(sound: boolean, browserNotifications: boolean): void {
    if (sound && !this.audio) {
      const Ctx = globalThis.AudioContext ?? (globalThis as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
      if (Ctx) this.audio = new Ctx();
    }
    void this.audio?.resume().catch(() => undefined);
    if (browserNotifications && typeof Notification !== 'undefined' && Notification.permission === 'default') {
      void Notification.requestPermission().catch(() => undefined);
    }
  }

  beep(): void {
    const ctx = this.audio;
    if (!ctx || ctx.state !== 'running') return;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.2);
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.2);
  }

  /** The browser's notification, when allowed; its text is plain text by the API's definition. */
  show(title: string, body: string, tag: string, onClick: () => void): void {
    if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return;
    try {
      const n = new Notification(title, { body, tag });
      n.onclick = () => {
        window.focus();
        onClick();
        n.close();
      };
    } catch {
      // some browsers allow notifications only from a service worker: the toast is enough there
    }
  }

  close(): void {
    void this.audio?.close().catch(() => undefined);
    this.audio = null;
  }
}
