// The page's states that need the user: WebGPU missing (how to turn it on), the device lost
// (restart, the weights are kept), a NaN loss (training stopped, what to change), other errors.
// One banner element shows the current one with its action buttons.

export type DemoState =
  'booting' | 'ready' | 'building' | 'running' | 'paused' | 'nan' | 'lost' | 'error' | 'no-webgpu';

export interface StateAction {
  label: string;
  run: () => void;
}

export class Banner {
  /** Called when the reader dismisses the banner (its × button or Escape). */
  onDismiss: (() => void) | null = null;

  constructor(private readonly root: HTMLElement) {
    root.setAttribute('role', 'alert');
    root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !root.hidden) this.dismiss();
    });
  }

  /**
   * Shows `html` (trusted markup from this page) with a tone and optional buttons, and a × button
   * that dismisses it.
   */
  show(tone: 'info' | 'warn' | 'error', title: string, html: string, actions: StateAction[] = []): void {
    this.root.hidden = false;
    this.root.className = `banner ${tone}`;
    this.root.replaceChildren();
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'dismiss';
    close.textContent = '×';
    close.title = 'Dismiss';
    close.setAttribute('aria-label', 'dismiss this message');
    close.dataset.action = 'dismiss-banner';
    close.addEventListener('click', () => this.dismiss());
    const h = document.createElement('strong');
    h.textContent = title;
    const body = document.createElement('div');
    body.innerHTML = html;
    this.root.append(close, h, body);
    if (actions.length) {
      const bar = document.createElement('div');
      bar.className = 'actions';
      for (const a of actions) {
        const b = document.createElement('button');
        b.textContent = a.label;
        b.addEventListener('click', a.run);
        bar.append(b);
      }
      this.root.append(bar);
    }
  }

  hide(): void {
    this.root.hidden = true;
    this.root.replaceChildren();
  }

  /** Hides the banner at the reader's request. */
  dismiss(): void {
    this.hide();
    this.onDismiss?.();
  }
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** navigator.gpu is missing, or no adapter: what to install or switch on, per browser. */
export function showNoWebGpu(banner: Banner, detail: string): void {
  const secure = window.isSecureContext
    ? ''
    : '<li><b>This page is not a secure context</b>: WebGPU needs https or localhost ' +
      '/ 127.0.0.1 — open it from <code>npm run demo</code>’s address.</li>';
  banner.show(
    'error',
    'WebGPU is not available in this browser',
    `<p>${esc(detail)}</p>
     <ul>
       ${secure}
       <li><b>Chrome / Edge 113+</b> (Windows, macOS, ChromeOS; Android 121+): WebGPU is on by default.
         Check <code>chrome://gpu</code> for “WebGPU: Hardware accelerated”
         and update the GPU driver if it is blocklisted.</li>
       <li><b>Chrome on Linux</b>: enable <code>chrome://flags/#enable-unsafe-webgpu</code>
         and <code>chrome://flags/#enable-vulkan</code>,
         or start it with <code>--enable-unsafe-webgpu --enable-features=Vulkan</code>.
         Without a GPU, Chromium can use SwiftShader (a CPU Vulkan driver: slow but it works).</li>
       <li><b>Headless Chromium</b> (tests, CI): <code>--enable-unsafe-webgpu</code>;
         <code>tools/chromium.mjs</code> does this.</li>
       <li><b>Firefox 141+</b> on Windows has WebGPU on;
         elsewhere set <code>dom.webgpu.enabled</code> in <code>about:config</code>.</li>
       <li><b>Safari 26+</b> (macOS, iOS); Safari 18 has it under Develop → Feature Flags → WebGPU.</li>
     </ul>`,
  );
}

export function showDeviceLost(banner: Banner, reason: string, snapshotStep: number | null, restart: () => void): void {
  const kept =
    snapshotStep === null
      ? 'No weights were saved yet: the restart begins from fresh weights.'
      : `The weights (and optimizer state) of step ${snapshotStep} are kept on the CPU ` +
        `and will be loaded into the new device.`;
  banner.show(
    'error',
    'The GPU device was lost',
    `<p>${esc(reason)}</p><p>${kept} Training is paused until you restart.</p>`,
    [{ label: 'Restart on a new device', run: restart }],
  );
}

export function showNaN(
  banner: Banner,
  step: number,
  lr: number,
  clipNorm: number,
  snapshotStep: number | null,
  rollBack: () => void,
  reset: () => void,
): void {
  const clip =
    clipNorm > 0
      ? `Gradient clipping is at norm ${clipNorm}: try a lower value.`
      : 'Gradient clipping is off: set <b>clip norm</b> (e.g. 1).';
  const actions = [{ label: 'Reset the model', run: reset }];
  if (snapshotStep !== null) actions.unshift({ label: `Roll back to step ${snapshotStep}`, run: rollBack });
  banner.show(
    'warn',
    `The loss became NaN at step ${step}: training stopped`,
    `<p>The weights diverged. Lower the <b>learning rate</b> (now ${lr.toPrecision(3)}), e.g. by 10×. ${clip}</p>
     <p>Then roll back to the last good weights${snapshotStep !== null ? ` (step ${snapshotStep})` : ''}
       or reset the model, and start again.</p>`,
    actions,
  );
}

export function showError(banner: Banner, title: string, message: string, actions: StateAction[] = []): void {
  banner.show('error', title, `<p>${esc(message)}</p>`, actions);
}

export function showInfo(banner: Banner, title: string, message: string): void {
  banner.show('info', title, `<p>${esc(message)}</p>`);
}
