import { describe, expect, it } from 'vitest';
import { filterCovers, mayPublish, maySubscribe, topicMatches } from './topic-acl.ts';

describe('topic access lists', () => {
  it('matches topics against filters as MQTT does', () => {
    expect(topicMatches('a/b', 'a/b')).toBe(true);
    expect(topicMatches('a/b', 'a/b/c')).toBe(false);
    expect(topicMatches('a/+', 'a/b')).toBe(true);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('#', 'x/y')).toBe(true);
    expect(topicMatches('#', '$SYS/x')).toBe(false);
    expect(topicMatches('+/x', '$SYS/x')).toBe(false);
    expect(topicMatches('$SYS/#', '$SYS/x')).toBe(true);
    expect(topicMatches('a/+/c', 'a//c')).toBe(true);
  });

  it('grants a subscription only when the allowed filter covers all it could match', () => {
    expect(filterCovers('dev/1/#', 'dev/1/#')).toBe(true);
    expect(filterCovers('dev/1/#', 'dev/1/a/+')).toBe(true);
    expect(filterCovers('dev/1/#', 'dev/1')).toBe(true);
    expect(filterCovers('dev/1/+', 'dev/1/#')).toBe(false);
    expect(filterCovers('dev/1/+', 'dev/1/x')).toBe(true);
    expect(filterCovers('dev/x', '+/x')).toBe(false);
    expect(filterCovers('dev/+/cmd', 'dev/2/cmd')).toBe(true);
    expect(filterCovers('dev/+/cmd', 'dev/+/cmd')).toBe(true);
    expect(filterCovers('dev/+/cmd', 'dev/#')).toBe(false);
    expect(filterCovers('#', '$SYS/#')).toBe(false);
    expect(filterCovers('$SYS/#', '$SYS/broker')).toBe(true);
  });

  it('answers for a whole list', () => {
    const acl = { publish: ['edgeadm/s/pump/#', 'edgeadm/announce/+'], subscribe: ['edgeadm/s/pump/command'] };
    expect(mayPublish(acl, 'edgeadm/s/pump/telemetry')).toBe(true);
    expect(mayPublish(acl, 'edgeadm/announce/pump')).toBe(true);
    expect(mayPublish(acl, 'edgeadm/s/other/telemetry')).toBe(false);
    expect(maySubscribe(acl, 'edgeadm/s/pump/command')).toBe(true);
    expect(maySubscribe(acl, 'edgeadm/s/+/command')).toBe(false);
    expect(maySubscribe({ publish: [], subscribe: [] }, 'x')).toBe(false);
  });
});
