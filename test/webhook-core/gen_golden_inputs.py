#!/usr/bin/env python3
# Writes the golden AdmissionReview inputs of test/data/admission (the expected
# files come from ARMORGATE_GOLDEN_UPDATE=1 webhook_core_golden; review the diff).
import os
import json
D=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'admission')
os.makedirs(D, exist_ok=True)
AN='container.apparmor.security.beta.kubernetes.io/'
def w(name, obj):
    with open(f'{D}/{name}.json','w') as f:
        if isinstance(obj,str): f.write(obj)
        else: json.dump(obj,f,indent=2); f.write('\n')
def node(name, labels):
    return {"metadata":{"name":name,"labels":labels}}
w('nodes', {"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadataList","items":[
  node('node-a',{"kubernetes.io/hostname":"node-a","armorgate.io/apparmor":"enabled","profiles.armorgate.io/custom.web":"loaded","profiles.armorgate.io/custom.db":"loaded"}),
  node('node-b',{"kubernetes.io/hostname":"node-b","armorgate.io/apparmor":"enabled","profiles.armorgate.io/custom.web":"loaded"}),
  node('node-c',{"kubernetes.io/hostname":"node-c","armorgate.io/apparmor":"unsupported","profiles.armorgate.io/custom.legacy":"loaded"}),
  node('node-d',{"kubernetes.io/hostname":"node-d"}),
]})
def review(uid, obj, op='CREATE', resource='pods', sub=None, kind='Pod', ns='team-a', name=None, old=None, group=''):
    req={"uid":uid,"kind":{"group":group,"version":"v1","kind":kind},"resource":{"group":group,"version":"v1","resource":resource},
         "requestKind":{"group":group,"version":"v1","kind":kind},"requestResource":{"group":group,"version":"v1","resource":resource},
         "namespace":ns,"operation":op,"userInfo":{"username":"alice","groups":["system:authenticated"]},
         "object":obj,"oldObject":old,"dryRun":False,"options":{"apiVersion":"meta.k8s.io/v1","kind":"CreateOptions"}}
    if sub: req["subResource"]=sub
    if name: req["name"]=name
    return {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":req}
def pod(name='web', ann=None, containers=None, init=None, eph=None, psc=None, nodeSelector=None, nodeName=None):
    p={"apiVersion":"v1","kind":"Pod","metadata":{"name":name,"namespace":"team-a","labels":{"app":name}},
       "spec":{"containers":containers or [{"name":"app","image":"nginx:1.27"}],"restartPolicy":"Always"}}
    if ann is not None: p["metadata"]["annotations"]=ann
    if init: p["spec"]["initContainers"]=init
    if eph: p["spec"]["ephemeralContainers"]=eph
    if psc is not None: p["spec"]["securityContext"]=psc
    if nodeSelector is not None: p["spec"]["nodeSelector"]=nodeSelector
    if nodeName: p["spec"]["nodeName"]=nodeName
    return p
def c(name, aa=None, sc=None, **kw):
    x={"name":name,"image":"busybox:1.36"}
    if sc is not None: x["securityContext"]=sc
    if aa is not None: x.setdefault("securityContext",{})["appArmorProfile"]=aa
    x.update(kw)
    return x
LH=lambda p:{"type":"Localhost","localhostProfile":p}
RD={"type":"RuntimeDefault"}; UN={"type":"Unconfined"}

# ---- mutate ----
w('mutate-annotation-only', review('m-01', pod(ann={AN+'app':'localhost/custom.web',"team":"a"})))
w('mutate-annotation-runtime-default', review('m-02', pod(ann={AN+'app':'runtime/default'},
   containers=[c('app', sc={"runAsNonRoot":True})])))
w('mutate-annotation-unconfined', review('m-03', pod(ann={AN+'app':'unconfined'})))
w('mutate-init-sidecar-ephemeral', review('m-04', pod(ann={AN+'app':'localhost/custom.web',AN+'init':'localhost/custom.db',
   AN+'proxy':'localhost/custom.web',AN+'debug':'runtime/default'},
   containers=[c('app')], init=[c('init'), c('proxy', restartPolicy='Always')], eph=[c('debug')])))
w('mutate-pod-level-field', review('m-05', pod(psc={"runAsUser":1000,"appArmorProfile":LH('custom.web')},
   containers=[c('app'), c('helper')])))
w('mutate-pod-level-agrees-annotation', review('m-06', pod(psc={"appArmorProfile":LH('custom.web')},
   ann={AN+'app':'localhost/custom.web'})))
w('mutate-field-agrees-annotation', review('m-07', pod(ann={AN+'app':'localhost/custom.db'},
   containers=[c('app', aa=LH('custom.db'))])))
w('mutate-field-conflicts-annotation', review('m-08', pod(ann={AN+'app':'localhost/custom.web'},
   containers=[c('app', aa=RD)])))
w('mutate-pod-level-conflicts-annotation', review('m-09', pod(psc={"appArmorProfile":UN},
   ann={AN+'app':'localhost/custom.web'})))
w('mutate-existing-node-selector', review('m-10', pod(ann={AN+'app':'localhost/custom.web'},
   nodeSelector={"disktype":"ssd","kubernetes.io/os":"linux"})))
w('mutate-already-mutated', review('m-11', pod(containers=[c('app', aa=LH('custom.web'))],
   nodeSelector={"profiles.armorgate.io/custom.web":"loaded"})))
w('mutate-node-selector-wrong-value', review('m-12', pod(containers=[c('app', aa=LH('custom.web'))],
   nodeSelector={"profiles.armorgate.io/custom.web":"yes"})))
w('mutate-invalid-annotations', review('m-13', pod(ann={AN+'app':'localhost/',AN+'side':'bogus/x'},
   containers=[c('app'), c('side')])))
w('mutate-non-custom-localhost', review('m-14', pod(ann={AN+'app':'localhost/k8s-apparmor-example-deny-write'})))
w('mutate-two-profiles', review('m-15', pod(ann={AN+'web':'localhost/custom.web',AN+'db':'localhost/custom.db',
   AN+'cache':'runtime/default'}, containers=[c('web'), c('db'), c('cache')], nodeSelector={})))
w('mutate-escaping-tilde', review('m-16', pod(ann={AN+'a~b':'localhost/custom.web'}, containers=[c('a~b')])))
w('mutate-invalid-custom-name', review('m-17', pod(ann={AN+'app':'localhost/custom.Web_'})))
w('mutate-null-security-context', review('m-18', pod(ann={AN+'app':'unconfined'}, containers=[c('app', sc=None) | {"securityContext":None}])))
w('mutate-no-apparmor', review('m-19', pod()))
w('mutate-configmap-ignored', review('m-20', {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{}},
   resource='configmaps', kind='ConfigMap'))
w('mutate-pod-update-ignored', review('m-21', pod(), op='UPDATE', old=pod()))
w('mutate-unknown-container-annotation', review('m-22', pod(ann={AN+'ghost':'localhost/custom.web'})))
w('mutate-pod-level-mixed', review('m-23', pod(psc={"appArmorProfile":LH('custom.db')},
   ann={AN+'b':'localhost/custom.web'}, containers=[c('a'), c('b'), c('c', aa=RD)])))

# ---- validate ----
w('validate-custom-loaded', review('v-01', pod(containers=[c('app', aa=LH('custom.web'))])))
w('validate-custom-unloaded', review('v-02', pod(containers=[c('app', aa=LH('custom.foo'))])))
w('validate-only-on-unsupported-node', review('v-03', pod(containers=[c('app', aa=LH('custom.legacy'))])))
w('validate-node-name-has', review('v-04', pod(containers=[c('app', aa=LH('custom.db'))], nodeName='node-a')))
w('validate-node-name-lacks', review('v-05', pod(containers=[c('app', aa=LH('custom.db'))], nodeName='node-b')))
w('validate-node-name-unknown', review('v-06', pod(containers=[c('app', aa=LH('custom.web'))], nodeName='node-zz')))
w('validate-node-name-unsupported', review('v-07', pod(containers=[c('app', aa=LH('custom.legacy'))], nodeName='node-c')))
w('validate-annotation-field-mismatch', review('v-08', pod(ann={AN+'app':'localhost/custom.web'}, containers=[c('app', aa=RD)])))
w('validate-localhost-without-profile', review('v-09', pod(containers=[c('app', aa={"type":"Localhost"})])))
w('validate-whitespace-profile', review('v-10', pod(containers=[c('app', aa=LH(' custom.web'))])))
w('validate-invalid-custom-name', review('v-11', pod(containers=[c('app', aa=LH('custom.Web_'))])))
w('validate-non-custom-localhost', review('v-12', pod(containers=[c('app', aa=LH('k8s-apparmor-example-deny-write'))])))
w('validate-runtime-default-unconfined', review('v-13', pod(psc={"appArmorProfile":RD}, containers=[c('a'), c('b', aa=UN)])))
w('validate-pod-level-unloaded', review('v-14', pod(psc={"appArmorProfile":LH('custom.missing')}, containers=[c('app'), c('own', aa=RD)])))
w('validate-annotation-only-unloaded', review('v-15', pod(ann={AN+'app':'localhost/custom.missing'})))
w('validate-invalid-annotation', review('v-16', pod(ann={AN+'app':'bogus'})))
w('validate-unknown-container-annotation', review('v-17', pod(ann={AN+'ghost':'runtime/default'})))
old=pod(containers=[c('app', aa=LH('custom.gone'))], eph=[c('dbg1', aa=LH('custom.gone2'))], nodeName='node-a')
new=pod(containers=[c('app', aa=LH('custom.gone'))], eph=[c('dbg1', aa=LH('custom.gone2')), c('dbg2', aa=LH('custom.missing'))], nodeName='node-a')
w('validate-ephemeral-new-unloaded', review('v-18', new, op='UPDATE', sub='ephemeralcontainers', name='web', old=old))
new2=pod(containers=[c('app', aa=LH('custom.gone'))], eph=[c('dbg1', aa=LH('custom.gone2')), c('dbg2', aa=LH('custom.web'))], nodeName='node-a')
w('validate-ephemeral-new-ok', review('v-19', new2, op='UPDATE', sub='ephemeralcontainers', name='web', old=old))
new3=pod(psc={"appArmorProfile":LH('custom.missing')}, containers=[c('app', aa=RD)], eph=[c('dbg')], nodeName='node-a')
w('validate-ephemeral-inherits-pod-level', review('v-20', new3, op='UPDATE', sub='ephemeralcontainers', name='web', old=pod(psc={"appArmorProfile":LH('custom.missing')}, containers=[c('app', aa=RD)], nodeName='node-a')))
w('validate-multiple-problems', review('v-21', pod(containers=[c('web', aa=LH('custom.web')), c('a', aa=LH('custom.foo')), c('b', aa=LH('custom.bar'))],
   init=[c('init', aa={"type":"Localhost","localhostProfile":""})])))
w('validate-localhost-profile-with-runtime-default', review('v-22', pod(containers=[c('app', aa={"type":"RuntimeDefault","localhostProfile":"custom.web"})])))
w('validate-unknown-type', review('v-23', pod(containers=[c('app', aa={"type":"Enforce"})])))
w('validate-after-mutation', review('v-24', pod(containers=[c('app', aa=LH('custom.web')), c('side', aa=LH('custom.db'))],
   nodeSelector={"profiles.armorgate.io/custom.web":"loaded","profiles.armorgate.io/custom.db":"loaded"})))
GOOD='''# armorgate test profile
abi <abi/3.0>,
include <tunables/global>

profile custom.web flags=(attach_disconnected,mediate_deleted) {
  include <abstractions/base>
  network inet tcp,
  file,
  deny /etc/shadow r,
}
'''
def cm(name, data=None, binary=None, ns='armorgate-system'):
    x={"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":name,"namespace":ns}}
    if data is not None: x["data"]=data
    if binary is not None: x["binaryData"]=binary
    return x
w('validate-configmap-good', review('v-30', cm('armorgate-profiles', {"custom.web":GOOD,"custom.db":GOOD.replace('custom.web','custom.db')}),
   resource='configmaps', kind='ConfigMap', ns='armorgate-system', name='armorgate-profiles'))
w('validate-configmap-bad', review('v-31', cm('armorgate-profiles', {"custom.web":GOOD, "notcustom":"profile notcustom {}\n",
   "custom.-bad":"profile custom.-bad {}\n", "custom.other":GOOD, "custom.hat":"profile custom.hat {\n  ^hat {\n  }\n}\n",
   "custom.abs":"include \"/etc/passwd\"\nprofile custom.abs {\n}\n"}, binary={"custom.bin":"AAAA"}),
   resource='configmaps', kind='ConfigMap', ns='armorgate-system', name='armorgate-profiles', op='UPDATE', old=cm('armorgate-profiles', {})))
w('validate-configmap-other', review('v-32', cm('app-config', {"custom.nonsense":"garbage"}, ns='team-a'),
   resource='configmaps', kind='ConfigMap', ns='team-a', name='app-config'))
w('validate-configmap-other-namespace', review('v-33', cm('armorgate-profiles', {"bad":"x"}, ns='team-a'),
   resource='configmaps', kind='ConfigMap', ns='team-a', name='armorgate-profiles'))
w('validate-configmap-delete', review('v-34', None, op='DELETE', resource='configmaps', kind='ConfigMap', ns='armorgate-system',
   name='armorgate-profiles', old=cm('armorgate-profiles', {"custom.web":GOOD})))
w('validate-configmap-empty', review('v-35', cm('armorgate-profiles'), resource='configmaps', kind='ConfigMap', ns='armorgate-system', name='armorgate-profiles'))
w('validate-unknown-resource', review('v-36', {"apiVersion":"v1","kind":"Service","metadata":{"name":"s"}}, resource='services', kind='Service'))
w('validate-apps-group', review('v-37', {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"}}, resource='deployments', kind='Deployment', group='apps'))
w('validate-spec-not-object', review('v-38', {"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":"nope"}))
# ---- malformed ----
w('validate-malformed-json', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x"')
w('validate-wrong-api-version', json.dumps(dict(review('x-01', pod()), apiVersion='admission.k8s.io/v1beta1')))
w('validate-wrong-kind', json.dumps(dict(review('x-02', pod()), kind='AdmissionResponse')))
r=review('x-03', pod()); del r['request']['uid']
w('mutate-missing-uid', json.dumps(r))
w('mutate-no-request', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}')
w('mutate-not-an-object', '[1,2,3]\n')
w('mutate-trailing-garbage', json.dumps(review('x-04', pod()))+' trailing')
w('mutate-deep-nesting', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x-05","object":'+'['*200+']'*200+'}}')
w('validate-empty-body', '')
w('validate-uid-needs-escaping', json.dumps(review('quote"back\\slash\u0001', pod(containers=[c('app', aa=LH('custom.foo'))]))))
w('mutate-duplicate-container-names', review('m-24', pod(ann={AN+'app':'localhost/custom.web'}, containers=[c('app'), c('app')])))
w('validate-configmap-nul', review('v-39', cm('armorgate-profiles', {"custom.web":GOOD+"\u0000\nprofile custom.web2 {}\n"}),
   resource='configmaps', kind='ConfigMap', ns='armorgate-system', name='armorgate-profiles'))
# ---- enforcement modes (test_golden: "validate-warn-" runs with warn, "validate-off-" with off) ----
w('validate-warn-custom-unloaded', review('w-01', pod(containers=[c('app', aa=LH('custom.foo'))])))
w('validate-warn-custom-loaded', review('w-02', pod(containers=[c('app', aa=LH('custom.web'))])))
w('validate-warn-ephemeral-new-unloaded', review('w-03', new, op='UPDATE', sub='ephemeralcontainers', name='web', old=old))
w('validate-warn-configmap-bad', review('w-04', cm('armorgate-profiles', {"notcustom":"profile notcustom {}\n"}),
   resource='configmaps', kind='ConfigMap', ns='armorgate-system', name='armorgate-profiles'))
w('validate-off-custom-unloaded', review('o-01', pod(containers=[c('app', aa=LH('custom.foo'))])))
w('validate-off-invalid-annotation', review('o-02', pod(ann={AN+'app':'bogus'})))
# ---- a NUL in a profile name (cJSON would read "custom.web"): refused, not mutated ----
w('validate-nul-profile-field', review('v-40', pod(containers=[c('app', aa=LH('custom.web\u0000zzz'))])))
w('validate-nul-profile-annotation', review('v-41', pod(ann={AN+'app':'localhost/custom.web\u0000zzz'})))
w('mutate-nul-profile-annotation', review('m-25', pod(ann={AN+'app':'localhost/custom.web\u0000zzz'})))
# ---- an ephemeral container on a pod not scheduled yet: only profiles its nodeSelector pins ----
PIN={"profiles.armorgate.io/custom.web":"loaded"}
uold=pod(containers=[c('app', aa=LH('custom.web'))], nodeSelector=PIN)
w('validate-ephemeral-unscheduled-unpinned', review('v-42', pod(containers=[c('app', aa=LH('custom.web'))], nodeSelector=PIN,
   eph=[c('dbg', aa=LH('custom.db'))]), op='UPDATE', sub='ephemeralcontainers', name='web', old=uold))
w('validate-ephemeral-unscheduled-pinned', review('v-43', pod(containers=[c('app', aa=LH('custom.web'))], nodeSelector=PIN,
   eph=[c('dbg', aa=LH('custom.web'))]), op='UPDATE', sub='ephemeralcontainers', name='web', old=uold))
