import { fileURLToPath } from 'node:url';
import { startChild } from './child-processes.js';

export interface ServerProcess {
  readonly pid: number;
  readonly url: string;
}

/** Starts one of the bench's own TypeScript servers (upstream, bare proxy) and waits for "listening <port>". */
export async function startServerProcess(file: string, env: Record<string, string>, cores: string | undefined): Promise<ServerProcess> {
  const script = fileURLToPath(new URL(file, import.meta.url));
  const profile = process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${fileURLToPath(new URL('./profiles', import.meta.url))}`] : [];
  const child = startChild(process.execPath, [...profile, '--import', 'tsx', script], {
    cores,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const port = await new Promise<number>((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const m = /listening (\d+)/.exec(seen);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${file} exited ${code} before listening`)));
  });
  return { pid: child.pid!, url: `http://127.0.0.1:${port}` };
}
