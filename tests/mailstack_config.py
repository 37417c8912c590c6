"""The Dovecot and Postfix configuration files that tests/mailstack.py writes and runs.

What was found on Debian 12 (Dovecot 2.3.19, Postfix 3.7):
- `postfix -c DIR` alone is enough as root: `alternate_config_directories` in
  /etc/postfix/main.cf is only checked for other users. `meta_directory` stays at
  /etc/postfix, where Debian registers the pgsql/mysql map plugins (dynamicmaps.cf.d).
  `postfix start` runs `post-install create-missing`, which builds the queue and data
  directories of this instance only (the queue folder itself must exist).
- `maillog_file` must start with one of `maillog_file_prefixes` (default `/var, /dev/stdout`).
- Dovecot refuses mail uids below `first_valid_uid` (500): mailboxes belong to the existing
  `dovecot` user and `first_valid_uid` is lowered to it, so no user is created.
- Dovecot's listener paths are relative to base_dir (a full path there gets a warning).
- Postfix 3.7 answers 535 both to a wrong password and to a failed SQL lookup in Dovecot.
"""

from string import Template

DOVECOT_CONF = Template("""\
# Written by tests/mailstack.py: a Dovecot for one test run.
instance_name = mailstack-$imap_port
base_dir = $work/dovecot-run
state_dir = $work/dovecot-state
log_path = $work/dovecot.log
info_log_path = $work/dovecot.log
listen = 127.0.0.1
protocols = imap lmtp
default_internal_user = dovecot
default_login_user = dovenull

ssl = required
ssl_cert = <$work/cert.pem
ssl_key = <$work/key.pem

auth_mechanisms = plain login
# A failed login would cost 2 s, and make the next logins from the same address wait
# 2, 4, 8, then 15 s (the "auth penalty", kept by anvil; without its socket it is off, for
# Postfix's SASL too). A refusal still takes up to 0.5 s: Dovecot answers them in batches.
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}

first_valid_uid = $mail_uid
mail_home = $work/mail/%d/%n
mail_location = maildir:~/Maildir

passdb {
  driver = sql
  args = $work/dovecot-sql.conf.ext
}
# The user_query finds the user (so an inactive one gets no mail over LMTP either);
# the fields it does not return come from here.
userdb {
  driver = sql
  args = $work/dovecot-sql.conf.ext
  default_fields = uid=$mail_uid gid=$mail_gid
}

# IMAPS only, on a free port; port 0 turns plain IMAP (143) off.
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = $imap_port
    ssl = yes
  }
}
# Listener paths are relative to base_dir; Postfix uses them by their full path.
service lmtp {
  unix_listener postfix-lmtp {
    mode = 0666
  }
}
service auth {
  unix_listener postfix-auth {
    mode = 0666
  }
}

# The quota plugin and its dict, as `mailserver_config` prints them (empty without quotas).
!include $work/90-quota.conf
""")

POSTFIX_MAIN_CF = Template("""\
# Written by tests/mailstack.py: a Postfix for one test run.
compatibility_level = 3.6
queue_directory = $work/postfix-queue
data_directory = $work/postfix-data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $work/postfix.log
maillog_file_prefixes = $work

myhostname = mailstack.localhost
mydomain = localhost
myorigin = $$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
alias_maps =
alias_database =
local_recipient_maps =
relay_domains =
# Mail for other domains is refused instead of leaving the machine.
default_transport = error:outside mail is disabled in tests
relay_transport = error:outside mail is disabled in tests

virtual_mailbox_domains = $map_type:$config/virtual_mailbox_domains.cf
virtual_mailbox_maps = $map_type:$config/virtual_mailbox_maps.cf
virtual_alias_maps = $map_type:$config/virtual_alias_maps.cf
virtual_transport = lmtp:unix:$work/dovecot-run/postfix-lmtp

smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $work/dovecot-run/postfix-auth
smtpd_sasl_security_options = noanonymous
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_tls_security_level = encrypt
smtpd_tls_chain_files = $work/key.pem, $work/cert.pem
""")

# Only the submissions port (implicit TLS) listens: no port-25 smtpd, no chroot anywhere.
POSTFIX_MASTER_CF = Template("""\
# service    type       private unpriv chroot wakeup maxproc command + args
127.0.0.1:$smtp_port inet n     -      n      -      -       smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
pickup       unix       n       -      n      60     1       pickup
cleanup      unix       n       -      n      -      0       cleanup
qmgr         unix       n       -      n      300    1       qmgr
tlsmgr       unix       -       -      n      1000?  1       tlsmgr
rewrite      unix       -       -      n      -      -       trivial-rewrite
bounce       unix       -       -      n      -      0       bounce
defer        unix       -       -      n      -      0       bounce
trace        unix       -       -      n      -      0       bounce
verify       unix       -       -      n      -      1       verify
flush        unix       n       -      n      1000?  0       flush
proxymap     unix       -       -      n      -      -       proxymap
proxywrite   unix       -       -      n      -      1       proxymap
smtp         unix       -       -      n      -      -       smtp
relay        unix       -       -      n      -      -       smtp
showq        unix       n       -      n      -      -       showq
error        unix       -       -      n      -      -       error
retry        unix       -       -      n      -      -       error
discard      unix       -       -      n      -      -       discard
local        unix       -       n      n      -      -       local
virtual      unix       -       n      n      -      -       virtual
lmtp         unix       -       -      n      -      -       lmtp
anvil        unix       -       -      n      -      1       anvil
scache       unix       -       -      n      -      1       scache
postlog      unix-dgram n       -      n      -      1       postlogd
""")
