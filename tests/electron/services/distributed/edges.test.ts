// What a worker and a coordinator check before they work together: the model's content hash
// (equal for equal weights, different for one changed byte, cached by file size and mtime) and
// the Redis URL (password, TLS, bad input named).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { computeModelHash, modelHash } from '../../../../electron/services/distributed/modelHash.js';
import { redisTarget } from '../../../../electron/services/distributed/redisTarget.js';
import { openModel } from '../../../../electron/services/jobs/preflight.js';
import { removeTempDirs, tempDir, writeModel } from '../../../support/jobFixtures.js';

afterAll(removeTempDirs);

describe('model content hash', () => {
  it('is the same for a copy, changes with one weight byte, and is cached until a file changes', () => {
    const dir = tempDir('skp-hash-');
    const folder = writeModel(dir);
    const copy = path.join(dir, 'copy');
    fs.cpSync(folder, copy, { recursive: true });
    const cache = path.join(dir, 'cache');
    const original = modelHash(openModel({ path: folder }), cache);
    expect(original).toMatch(/^[0-9a-f]{64}$/);
    expect(modelHash(openModel({ path: copy }), cache)).toBe(original);
    expect(fs.readdirSync(path.join(cache, 'model-hashes'))).toHaveLength(2);

    const model = openModel({ path: copy });
    const info = model.unet.weights.info(model.unet.weights.names()[0]!);
    const fd = fs.openSync(info.file, 'r+');
    const byte = Buffer.alloc(1);
    fs.readSync(fd, byte, 0, 1, info.byteOffset);
    byte[0] = byte[0]! ^ 1;
    fs.writeSync(fd, byte, 0, 1, info.byteOffset);
    fs.closeSync(fd);
    fs.utimesSync(info.file, new Date(), new Date(Date.now() + 5000));
    const changed = modelHash(openModel({ path: copy }), cache);
    expect(changed).not.toBe(original);
    expect(computeModelHash(openModel({ path: copy }))).toBe(changed);
  });
});

describe('Redis URL', () => {
  it('takes the password from the URL, else from SKP_REDIS_PASSWORD, and never shows it', () => {
    const fromUrl = redisTarget('redis://:s3cret@queue.lab:6380/2', {});
    expect(fromUrl.options).toMatchObject({ host: 'queue.lab', port: 6380, db: 2, password: 's3cret' });
    expect(fromUrl.options.tls).toBeUndefined();
    expect(fromUrl.label).toBe('redis://queue.lab:6380/2');
    expect(redisTarget('redis://queue.lab', { SKP_REDIS_PASSWORD: 'env' }).options).toMatchObject({
      port: 6379,
      db: 0,
      password: 'env',
    });
  });

  it('connects over TLS for rediss://, with the CA file of SKP_REDIS_CA', () => {
    const dir = tempDir('skp-ca-');
    const ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    expect(redisTarget('rediss://queue.lab:6380', {}).options.tls).toEqual({});
    expect(redisTarget('rediss://queue.lab:6380', { SKP_REDIS_CA: ca }).options.tls?.ca).toEqual(fs.readFileSync(ca));
    expect(() => redisTarget('rediss://queue.lab', { SKP_REDIS_CA: path.join(dir, 'none.pem') })).toThrow(
      /SKP_REDIS_CA: .*none\.pem cannot be read \(ENOENT\)/,
    );
  });

  it('waits 60 s for a server that stops answering, or SKP_REDIS_TIMEOUT seconds', () => {
    expect(redisTarget('redis://queue.lab', {}).timeoutSeconds).toBe(60);
    expect(redisTarget('redis://queue.lab', { SKP_REDIS_TIMEOUT: '2.5' }).timeoutSeconds).toBe(2.5);
    expect(() => redisTarget('redis://queue.lab', { SKP_REDIS_TIMEOUT: 'soon' })).toThrow(
      'SKP_REDIS_TIMEOUT must be a number of seconds above 0, not "soon"',
    );
  });

  it('says what is wrong with a URL that is not one', () => {
    expect(() => redisTarget('queue.lab:6379', {})).toThrow(/must start with redis:\/\/ or rediss:\/\//);
    expect(() => redisTarget('redis://queue.lab/x', {})).toThrow(
      /"x" in "redis:\/\/queue.lab\/x" is not a database number/,
    );
  });
});
