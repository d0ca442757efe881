import http from 'node:http';

/**
 * A keep-alive HTTP client for load generation. Node's fetch (undici) costs
 * several times more CPU per request, which on a 2-core machine would make
 * the client, not the server, the bottleneck.
 */
export function createClient(baseUrl: string, maxSockets = 128) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  return {
    request(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
      return new Promise((resolve, reject) => {
        const req = http.request(
          { host: url.hostname, port: url.port, method, path, agent, headers: body ? { ...headers, 'content-length': Buffer.byteLength(body) } : headers },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        if (body) req.write(body);
        req.end();
      });
    },
    close() {
      agent.destroy();
    },
  };
}
