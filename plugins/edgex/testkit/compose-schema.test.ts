import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { composeProblems } from './compose-schema.ts';

/** An EdgeX-style Compose file of the kind we render: a database and core-data depending on it. */
const VALID = `
name: edgex
x-edgex-common: &common
  EDGEX_SECURITY_SECRET_STORE: "false"
services:
  database:
    image: redis:7.0-alpine
    container_name: edgex-redis
    hostname: edgex-redis
    read_only: true
    restart: always
    ports:
      - "127.0.0.1:6379:6379"
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 10s
      timeout: 5s
      retries: 5
      start_period: 5s
    volumes:
      - db-data:/data:z
    networks:
      - edgex-network
  core-data:
    image: edgexfoundry/core-data:3.1.0
    container_name: edgex-core-data
    read_only: true
    restart: always
    user: "2002:2001"
    security_opt:
      - no-new-privileges:true
    ports:
      - "127.0.0.1:59880:59880"
      - target: 59880
        published: "59881"
        protocol: tcp
    environment:
      <<: *common
      SERVICE_HOST: edgex-core-data
      WRITABLE_LOGLEVEL: INFO
      MESSAGEBUS_OPTIONAL_QOS: 1
    depends_on:
      database:
        condition: service_healthy
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O - http://localhost:59880/api/v3/ping"]
      interval: 10s
    volumes:
      - /etc/localtime:/etc/localtime:ro
      - type: volume
        source: core-data
        target: /tmp/edgex
    networks:
      edgex-network:
        aliases: [core-data]
networks:
  edgex-network:
    driver: bridge
volumes:
  db-data:
  core-data: {}
`;

/** VALID with one edit; fails loudly if the edit no longer applies. */
function edited(from: string, to: string): unknown {
  expect(VALID).toContain(from);
  return parse(VALID.replace(from, to), { merge: true });
}

describe('composeProblems', () => {
  it('finds nothing wrong with a valid Compose file', () => {
    expect(composeProblems(parse(VALID, { merge: true }))).toEqual([]);
  });

  it('names an unknown service key and where it is', () => {
    const doc = edited('image: edgexfoundry/core-data:3.1.0', 'imagee: edgexfoundry/core-data:3.1.0');
    expect(composeProblems(doc)).toEqual(['/services/core-data: must NOT have additional properties (imagee)']);
  });

  it('names a value of the wrong type', () => {
    const doc = edited('ports:\n      - "127.0.0.1:6379:6379"', 'ports: 6379');
    expect(composeProblems(doc)).toEqual(['/services/database/ports: must be array']);
  });

  it('names an unknown top-level key, and allows x- extensions there', () => {
    const doc = edited('networks:\n  edgex-network:\n    driver', 'network:\n  edgex-network:\n    driver');
    expect(composeProblems(doc)).toEqual(['/: must NOT have additional properties (network)']);
  });

  it('names a depends_on condition Compose does not know, with the ones it does', () => {
    const doc = edited('condition: service_healthy', 'condition: service_ready');
    expect(composeProblems(doc)).toContain(
      '/services/core-data/depends_on/database/condition: must be equal to one of the allowed values ' +
        '(service_started, service_healthy, service_completed_successfully)',
    );
  });

  it('reports every problem at once', () => {
    const doc = parse(
      VALID.replace('image: redis:7.0-alpine', 'imagee: redis:7.0-alpine').replace('retries: 5', 'retries: [5]'),
      { merge: true },
    );
    expect(composeProblems(doc)).toEqual(
      expect.arrayContaining([
        '/services/database: must NOT have additional properties (imagee)',
        '/services/database/healthcheck/retries: must be number,string',
      ]),
    );
  });

  it('rejects a document that is not a mapping', () => {
    expect(composeProblems(['services'])).toEqual(['/: must be object']);
  });
});
