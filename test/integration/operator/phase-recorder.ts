// Records every status phase the API server stores for the policies of a namespace (through a watch),
// so a test can check the sequence Pending → Archiving → Idle even when a phase lasts a moment.
import { Watch } from '@kubernetes/client-node';
import type { ArchivePolicy } from '../../../operator/api/schema.js';
import { adminKubeConfig } from '../../support/kube.js';
import { sleep } from './harness.js';

export interface PhaseSample {
  name: string;
  phase?: string;
  generation?: number;
  observedGeneration?: number;
  at: number;
}

export class PhaseRecorder {
  readonly samples: PhaseSample[] = [];
  private controller: AbortController | undefined;
  private stopped = false;

  constructor(private readonly namespace: string) {}

  async start(): Promise<void> {
    const path = `/apis/gochive.io/v1alpha1/namespaces/${this.namespace}/archivepolicies`;
    const deadline = Date.now() + 30_000;
    // Right after the CRD is established, the watch cache may answer 429 for a moment.
    for (;;) {
      let startErr: unknown;
      let started = false;
      this.controller = await new Watch(adminKubeConfig()).watch(
        path,
        {},
        (_type: string, obj: ArchivePolicy) => {
          this.samples.push({
            name: obj.metadata.name,
            phase: obj.status?.phase,
            generation: obj.metadata.generation,
            observedGeneration: obj.status?.observedGeneration,
            at: Date.now(),
          });
        },
        (err: unknown) => {
          if (!started) startErr = err;
          else if (!this.stopped) void this.start(); // the server closed the watch: reopen
        },
      );
      started = true;
      if (!startErr) return;
      if (Date.now() > deadline) throw startErr;
      await sleep(250);
    }
  }

  /** Distinct consecutive phases of one policy, in order. */
  phases(name: string): string[] {
    const out: string[] = [];
    for (const s of this.samples) {
      if (s.name !== name || !s.phase) continue;
      if (out[out.length - 1] !== s.phase) out.push(s.phase);
    }
    return out;
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }
}
