#!/usr/bin/perl
# The receiving end of `xl migrate -s "" DOM "exec perl migrate-proxy.pl HOOK ARGS..."`.
#
# Runs `xl migrate-receive` with the sender's stream on its stdin, and relays
# the receiver's replies back to the sender. When the receiver reports
# "domain received, ready to unpause" the source domain is suspended (its
# image is complete) and the incoming domain exists, paused: the point where
# xend moves the vTPM (after xc_save/xc_restore, before the unpause). There
# the proxy runs "HOOK ARGS... ready" (its output goes to stderr, never into
# the stream) and forwards the message only if the hook succeeded. If it
# failed, the sender never hears "ready": xl fails the migration, resumes the
# source domain, and the receiver destroys the incoming one.
#
# When the receiver then reports that the new domain was unpaused (status 0),
# the sender destroys the source domain next: there the proxy runs
# "HOOK ARGS... done" (xend's teardown of the source vTPM) before relaying
# the report. The receiver's messages are those of xl 4.17 (xl.h).
use strict;
use warnings;

my @hook = @ARGV or die "usage: migrate-proxy.pl HOOK [ARGS...]\n";
# Each: the receiver's message, the bytes that follow it which the proxy
# needs to see (the NUL, then the status byte of the report), the hook's
# argument, and whether a failed hook fails the migration.
my @triggers = (
	{ text => 'domain received, ready to unpause', need => 0, arg => 'ready', fatal => 1 },
	{ text => 'my copy unpause results are as follows', need => 2, arg => 'done', fatal => 0 },
);

pipe(my $from_rx, my $rx_out) or die "migrate-proxy: pipe: $!\n";
my $pid = fork() // die "migrate-proxy: fork: $!\n";
if ($pid == 0) {
	close $from_rx;
	open(STDOUT, '>&', $rx_out) or die "migrate-proxy: dup: $!\n";
	exec('xl', 'migrate-receive') or die "migrate-proxy: exec xl: $!\n";
}
close $rx_out;
binmode $from_rx;
binmode STDOUT;

sub put {
	my ($data) = @_;
	while (length $data) {
		my $n = syswrite(STDOUT, $data);
		die "migrate-proxy: write to sender: $!\n" unless defined $n;
		substr($data, 0, $n) = '';
	}
}

# How many bytes at the end of $buf could be the start of $text.
sub held_back {
	my ($buf, $text) = @_;
	for (my $k = length($text) - 1; $k > 0; $k--) {
		next if $k > length $buf;
		return $k if substr($buf, -$k) eq substr($text, 0, $k);
	}
	return 0;
}

# The hook, with its stdout on our stderr: stdout is the sender's stream.
sub run_hook {
	my ($arg) = @_;
	open(my $saved, '>&', \*STDOUT) or die "migrate-proxy: dup: $!\n";
	open(STDOUT, '>&', \*STDERR) or die "migrate-proxy: dup: $!\n";
	my $rc = system(@hook, $arg);
	open(STDOUT, '>&', $saved) or die "migrate-proxy: dup: $!\n";
	binmode STDOUT;
	return $rc;
}

my $buf = '';
while (1) {
	my $n = sysread($from_rx, my $chunk, 4096);
	die "migrate-proxy: read from receiver: $!\n" unless defined $n;
	last if $n == 0;
	$buf .= $chunk;
	while (length $buf) {
		my $t = $triggers[0];
		if (!$t) {
			put($buf);
			$buf = '';
			last;
		}
		my $at = index($buf, $t->{text});
		if ($at < 0) {
			my $keep = held_back($buf, $t->{text});
			put(substr($buf, 0, length($buf) - $keep));
			$buf = substr($buf, length($buf) - $keep);
			last;
		}
		put(substr($buf, 0, $at));
		$buf = substr($buf, $at);
		last if length($buf) < length($t->{text}) + $t->{need};
		shift @triggers;
		if ($t->{arg} eq 'done') {
			my $status = ord(substr($buf, length($t->{text}) + 1, 1));
			next if $status != 0;   # the target failed: the source lives on
		}
		my $rc = run_hook($t->{arg});
		if ($rc != 0 && $t->{fatal}) {
			print STDERR "migrate-proxy: vTPM hook '$t->{arg}' failed (status $rc): failing the migration\n";
			kill 'TERM', $pid;
			waitpid($pid, 0);
			exit 1;
		}
		put(substr($buf, 0, length $t->{text}));
		$buf = substr($buf, length $t->{text});
	}
}
put($buf) if length $buf;
waitpid($pid, 0);
exit($? >> 8);
